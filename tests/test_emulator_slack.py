"""The Slack emulator driven only through slack_sdk and signed HTTP, as the bot will drive it."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from emulators.slack import SlackEmulator
from tests.slack_helpers import Receiver


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(stream_limit=100) as emulator:
        yield emulator


@pytest.fixture
def client(slack: SlackEmulator) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def _thread(slack: SlackEmulator, client: WebClient) -> tuple[str, str, str]:
    user = slack.add_user("minji")
    channel = slack.add_channel("general")
    return user, channel, slack.post_as_user(user, channel, "question").ts


def test_a_mention_in_a_channel_sends_two_signed_events(
    slack: SlackEmulator, receiver: Receiver
) -> None:
    user = slack.add_user("minji")
    channel = slack.add_channel("general")
    delivery = slack.post_as_user(user, channel, f"<@{slack.bot_user_id}> when is payday?")

    assert delivery.statuses == [200, 200]
    message, mention = receiver.envelopes()
    assert [message["event_id"], mention["event_id"]] == delivery.event_ids
    assert message["event"]["type"] == "message" and message["event"]["channel_type"] == "channel"
    assert mention["event"]["type"] == "app_mention" and mention["event"]["ts"] == delivery.ts
    assert mention["authorizations"][0]["user_id"] == slack.bot_user_id
    assert mention["type"] == "event_callback" and mention["api_app_id"] == slack.app_id


def test_a_direct_message_sends_one_im_event(slack: SlackEmulator, receiver: Receiver) -> None:
    user = slack.add_user("jun")
    dm = slack.open_dm(user)
    assert slack.open_dm(user) == dm
    slack.post_as_user(user, dm, f"<@{slack.bot_user_id}> hi")
    (envelope,) = receiver.envelopes()
    assert envelope["event"]["channel_type"] == "im" and envelope["event"]["channel"] == dm


def test_a_redelivery_carries_slacks_retry_headers(
    slack: SlackEmulator, receiver: Receiver
) -> None:
    user = slack.add_user("minji")
    channel = slack.add_channel("general")
    delivery = slack.post_as_user(user, channel, "hello")
    assert slack.redeliver(delivery.event_ids[0], retry_num=1) == 200
    retried = receiver.requests[-1]
    assert retried["headers"]["X-Slack-Retry-Num"] == "1"
    assert retried["headers"]["X-Slack-Retry-Reason"] == "http_timeout"
    assert retried["body"] == receiver.requests[0]["body"]


def test_edits_and_deletions_arrive_as_message_subtypes(
    slack: SlackEmulator, receiver: Receiver
) -> None:
    user = slack.add_user("minji")
    channel = slack.add_channel("general")
    ts = slack.post_as_user(user, channel, "morning all").ts
    slack.edit_as_user(user, channel, ts, "morning everyone")
    slack.delete_as_user(channel, ts)
    changed, deleted = (e["event"] for e in receiver.envelopes()[1:])
    assert changed["subtype"] == "message_changed"
    assert changed["message"]["text"] == "morning everyone"
    assert deleted["subtype"] == "message_deleted" and deleted["deleted_ts"] == ts
    assert slack.messages(channel) == []


def test_a_wrong_token_is_invalid_auth_and_none_is_not_authed(slack: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as wrong:
        WebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test()
    assert wrong.value.response.status_code == 200
    assert wrong.value.response["error"] == "invalid_auth"
    with urllib.request.urlopen(f"{slack.api_url}auth.test", data=b"") as response:
        assert json.loads(response.read()) == {"ok": False, "error": "not_authed"}


def test_socket_mode_urls_need_the_app_token_and_open_one_connection_each(
    slack: SlackEmulator, client: WebClient
) -> None:
    with pytest.raises(SlackApiError) as bot_token:
        client.apps_connections_open(app_token=slack.bot_token)
    assert bot_token.value.response["error"] == "not_allowed_token_type"
    app_client = WebClient(token=slack.app_token, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as app_token:
        app_client.chat_postMessage(channel=slack.add_channel("general"), text="hi")
    assert app_token.value.response["error"] == "not_allowed_token_type"

    url = client.apps_connections_open(app_token=slack.app_token)["url"]
    assert url.startswith("ws://127.0.0.1:") and "/link/?ticket=" in url
    with connect(url) as socket:
        hello = json.loads(socket.recv(timeout=5))
        assert hello["type"] == "hello"
        assert hello["connection_info"]["app_id"] == slack.app_id
        with connect(url) as reused:  # a ticket is good for one connection
            with pytest.raises(ConnectionClosed) as refused:
                reused.recv(timeout=5)
            assert refused.value.rcvd is not None and refused.value.rcvd.code == 1008

        def ack_first_envelope() -> None:
            envelope = json.loads(socket.recv(timeout=5))
            socket.send(json.dumps({"envelope_id": envelope["envelope_id"]}))

        acker = threading.Thread(target=ack_first_envelope)
        acker.start()
        user = slack.add_user("minji")
        asked = slack.post_as_user(user, slack.open_dm(user), "hello")
        acker.join(timeout=10)
    [sent] = slack.socket_mode.envelopes
    assert sent.type == "events_api" and sent.payload["event"]["ts"] == asked.ts
    assert asked.statuses == [200]


def test_auth_test_identifies_the_bot(client: WebClient, slack: SlackEmulator) -> None:
    identity = client.auth_test()
    assert identity["user_id"] == slack.bot_user_id and identity["bot_id"] == slack.bot_id
    assert identity["team_id"] == slack.team_id


def test_chat_stream_grows_one_reply_in_the_thread(slack: SlackEmulator, client: WebClient) -> None:
    user, channel, ts = _thread(slack, client)
    stream = client.chat_stream(
        channel=channel,
        thread_ts=ts,
        recipient_user_id=user,
        recipient_team_id=slack.team_id,
        buffer_size=4,
    )
    for piece in ["Pay", "day is ", "the 25th."]:
        stream.append(markdown_text=piece)
    stream.stop(blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": "ok"}]}])

    parent, reply = slack.messages(channel, ts)
    assert reply["text"] == "Payday is the 25th." and reply["bot_id"] == slack.bot_id
    assert reply["thread_ts"] == ts and reply["blocks"][0]["type"] == "context"
    assert parent["reply_count"] == 1
    methods = [c.method for c in slack.calls]
    assert methods.count("chat.startStream") == 1 and methods[-1] == "chat.stopStream"


def test_streaming_in_a_channel_needs_a_recipient_and_a_thread(
    slack: SlackEmulator, client: WebClient
) -> None:
    _, channel, ts = _thread(slack, client)
    with pytest.raises(SlackApiError, match="missing_recipient_user_id"):
        client.chat_startStream(channel=channel, thread_ts=ts, markdown_text="hi")
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.api_call("chat.startStream", json={"channel": channel, "markdown_text": "hi"})


def test_a_stream_past_the_limit_is_refused_and_keeps_its_text(
    slack: SlackEmulator, client: WebClient
) -> None:
    user, channel, ts = _thread(slack, client)
    started = client.chat_startStream(
        channel=channel, thread_ts=ts, recipient_user_id=user, recipient_team_id=slack.team_id
    )
    client.chat_appendStream(channel=channel, ts=started["ts"], markdown_text="a" * 90)
    with pytest.raises(SlackApiError, match="msg_too_long"):
        client.chat_appendStream(channel=channel, ts=started["ts"], markdown_text="b" * 20)
    client.chat_stopStream(channel=channel, ts=started["ts"])
    with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
        client.chat_appendStream(channel=channel, ts=started["ts"], markdown_text="late")
    assert slack.messages(channel, ts)[-1]["text"] == "a" * 90


def test_blocks_over_slacks_limits_are_refused_as_invalid_blocks(
    slack: SlackEmulator, client: WebClient
) -> None:
    _, channel, _ = _thread(slack, client)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}
    client.chat_postMessage(channel=channel, text="fits", blocks=[section] * 50)
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    fields = {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}
    for blocks in ([section] * 51, [too_long], [fields]):
        with pytest.raises(SlackApiError, match="invalid_blocks") as refused:
            client.chat_postMessage(channel=channel, text="too much", blocks=blocks)
        assert refused.value.response["response_metadata"]["messages"][0].startswith("[ERROR]")


def test_a_rate_limit_is_retried_by_the_sdk_handler(
    slack: SlackEmulator, client: WebClient
) -> None:
    _, channel, _ = _thread(slack, client)
    slack.fail_next("chat.postMessage", retry_after=0)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=channel, text="one")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "0"

    slack.fail_next("chat.postMessage", retry_after=0)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    assert client.chat_postMessage(channel=channel, text="two")["ok"]
    assert [m["text"] for m in slack.messages(channel)][-1] == "two"


def test_an_injected_error_is_an_ok_false_answer(slack: SlackEmulator, client: WebClient) -> None:
    slack.fail_next("auth.test", error="team_access_not_granted")
    with pytest.raises(SlackApiError) as refused:
        client.auth_test()
    assert refused.value.response.status_code == 200
    assert refused.value.response["error"] == "team_access_not_granted"
    assert client.auth_test()["ok"]


def test_replies_are_paged_with_cursors_oldest_first(
    slack: SlackEmulator, client: WebClient
) -> None:
    user, channel, ts = _thread(slack, client)
    for i in range(4):
        slack.post_as_user(user, channel, f"reply {i}", thread_ts=ts)
    first = client.conversations_replies(channel=channel, ts=ts, limit=3)
    second = client.conversations_replies(
        channel=channel, ts=ts, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    texts = [m["text"] for m in first["messages"] + second["messages"]]
    assert texts == ["question", "reply 0", "reply 1", "reply 2", "reply 3"]
    assert first["has_more"] and not second["has_more"]
    with pytest.raises(SlackApiError, match="thread_not_found"):
        client.conversations_replies(channel=channel, ts="1.000001")


def test_history_info_users_and_unknown_methods(slack: SlackEmulator, client: WebClient) -> None:
    user, channel, _ = _thread(slack, client)
    client.chat_postMessage(channel=channel, text="later")
    history = client.conversations_history(channel=channel)
    assert [m["text"] for m in history["messages"]] == ["later", "question"]
    assert client.conversations_info(channel=channel)["channel"]["name"] == "general"
    profile = client.users_info(user=user)["user"]
    assert profile["tz"] == "Asia/Seoul" and profile["profile"]["display_name"] == "minji"
    assert client.conversations_open(users=user)["channel"]["id"] == slack.open_dm(user)
    with pytest.raises(SlackApiError, match="unknown_method"):
        client.api_call("chat.teleport")


def test_files_upload_v2_shares_the_file_in_the_thread(
    slack: SlackEmulator, client: WebClient
) -> None:
    _, channel, ts = _thread(slack, client)
    client.files_upload_v2(
        channel=channel, thread_ts=ts, content=b"step,loss\n1,0.5\n", filename="loss.csv"
    )
    (upload,) = slack.uploads
    assert upload["bytes"] == b"step,loss\n1,0.5\n" and upload["thread_ts"] == ts
    shared = slack.messages(channel, ts)[-1]["files"][0]
    assert shared["name"] == "loss.csv" and shared["id"] == upload["file_id"]
    assert client.files_info(file=shared["id"])["file"]["size"] == 16


def test_private_files_need_the_bot_token(slack: SlackEmulator) -> None:
    user = slack.add_user("minji")
    hosted = slack.add_file(user, "train.jsonl", b'{"messages": []}\n')
    signed = urllib.request.Request(
        hosted["url_private_download"], headers={"Authorization": f"Bearer {slack.bot_token}"}
    )
    with urllib.request.urlopen(signed) as response:
        assert response.read() == b'{"messages": []}\n'
    with urllib.request.urlopen(hosted["url_private"]) as response:
        assert response.status == 200 and response.headers.get_content_type() == "text/html"
    assert [f["authorized"] for f in slack.file_fetches] == [True, False]


def test_a_message_with_a_file_is_a_file_share_event(
    slack: SlackEmulator, receiver: Receiver
) -> None:
    user = slack.add_user("minji")
    channel = slack.add_channel("admins")
    hosted = slack.add_file(user, "data.csv", b"a,b\n")
    slack.post_as_user(user, channel, f"<@{slack.bot_user_id}> train", files=[hosted])
    message, mention = (e["event"] for e in receiver.envelopes())
    assert message["subtype"] == "file_share" and message["files"][0]["id"] == hosted["id"]
    assert mention["files"][0]["url_private"] == hosted["url_private"]


def test_a_slash_command_is_signed_and_its_response_url_posts(
    slack: SlackEmulator, receiver: Receiver
) -> None:
    user = slack.add_user("minji")
    channel = slack.add_channel("admins")
    receiver.answer = b'{"text": "working on it"}'
    status, body = slack.send_slash_command(user, channel, "/finetune", "status")
    form = {k: v[0] for k, v in parse_qs(receiver.requests[0]["body"].decode()).items()}
    assert status == 200 and json.loads(body)["text"] == "working on it"
    assert form["command"] == "/finetune" and form["text"] == "status"

    WebhookClient(form["response_url"]).send(text="Job queued", response_type="in_channel")
    assert slack.responses == [{"text": "Job queued", "response_type": "in_channel"}]
    assert slack.messages(channel)[-1]["text"] == "Job queued"


def test_a_modal_needs_a_fresh_unused_trigger(
    slack: SlackEmulator, receiver: Receiver, client: WebClient
) -> None:
    user = slack.add_user("minji")
    assert slack.send_interaction(user, {"type": "shortcut", "callback_id": "train"}) == 200
    payload = json.loads(parse_qs(receiver.requests[0]["body"].decode())["payload"][0])
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Train"}, "blocks": []}

    opened = client.views_open(trigger_id=payload["trigger_id"], view=view)
    assert opened["view"]["id"] in slack.views
    with pytest.raises(SlackApiError, match="exchanged_trigger_id"):
        client.views_open(trigger_id=payload["trigger_id"], view=view)
    with pytest.raises(SlackApiError, match="invalid_trigger_id"):
        client.views_open(trigger_id="123.456.abc", view=view)
    updated = client.views_update(view_id=opened["view"]["id"], view=view | {"blocks": []})
    assert updated["view"]["hash"] != opened["view"]["hash"]


def test_wait_for_explains_a_timeout_with_the_recent_calls(
    slack: SlackEmulator, client: WebClient
) -> None:
    client.auth_test()
    with pytest.raises(AssertionError, match=r"auth\.test"):
        slack.wait_for(lambda: False, timeout=0.05)


def test_bot_posts_can_echo_back_as_events_like_slack(
    slack: SlackEmulator, receiver: Receiver, client: WebClient
) -> None:
    channel = slack.add_channel("general")
    slack.echo_bot_messages = True
    posted = client.chat_postMessage(channel=channel, text="hello from the bot")
    slack.wait_for(lambda: receiver.requests, timeout=2)
    (echoed,) = receiver.envelopes()
    assert echoed["event"]["bot_id"] == slack.bot_id and echoed["event"]["ts"] == posted["ts"]
