"""The Slack emulator's agent surfaces, driven through slack_sdk as the bot drives them.

assistant.threads.* with Slack's argument checks and what each leaves on the thread, the
streaming chunk types, Home tab view limits, app_home_opened, and apps.manifest.validate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.messages.chunk import MarkdownTextChunk, PlanUpdateChunk, TaskUpdateChunk

from emulators.slack import SlackEmulator
from tests.slack_helpers import Receiver


@pytest.fixture
def client(slack: SlackEmulator) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def _refused(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as raised:
        call()
    return dict(raised.value.response.data)  # type: ignore[arg-type]


def _asked(slack: SlackEmulator, *, dm: bool = True) -> tuple[str, str]:
    user = slack.add_user("minji")
    channel = slack.open_dm(user) if dm else slack.add_channel("general")
    return channel, slack.post_as_user(user, channel, "what is our refund policy?").ts


def test_a_status_shows_until_the_apps_reply_in_the_thread_clears_it(
    slack: SlackEmulator, client: WebClient
) -> None:
    channel, ts = _asked(slack)
    loading = ["Reading the thread…", "Asking the model…"]

    client.assistant_threads_setStatus(
        channel_id=channel, thread_ts=ts, status="is thinking...", loading_messages=loading
    )
    shown = slack.assistant_thread(channel, ts)
    client.chat_postMessage(channel=channel, thread_ts=ts, text="Refunds take 5 days.")
    after = slack.assistant_thread(channel, ts)

    assert shown.status == "is thinking..." and shown.loading_messages == loading
    assert after.status == ""
    assert after.statuses == [
        {"status": "is thinking...", "loading_messages": loading, "ended": "reply"}
    ]


def test_an_empty_status_clears_it_and_a_streamed_reply_does_too(
    slack: SlackEmulator, client: WebClient
) -> None:
    channel, ts = _asked(slack, dm=False)

    client.assistant_threads_setStatus(channel_id=channel, thread_ts=ts, status="is looking...")
    client.assistant_threads_setStatus(channel_id=channel, thread_ts=ts, status="")
    client.assistant_threads_setStatus(channel_id=channel, thread_ts=ts, status="is writing...")
    stream = client.chat_stream(
        channel=channel, thread_ts=ts, recipient_user_id="U1", recipient_team_id=slack.team_id
    )
    stream.append(markdown_text="Refunds take 5 days.")
    stream.stop()

    ends = [s["ended"] for s in slack.assistant_thread(channel, ts).statuses]
    assert ends == ["empty status", "reply"]


def test_set_status_refuses_what_slack_refuses(slack: SlackEmulator, client: WebClient) -> None:
    channel, ts = _asked(slack)
    method = "assistant.threads.setStatus"

    def call(**args: Any) -> Callable[[], Any]:
        return lambda: client.api_call(method, json={"channel_id": channel, "thread_ts": ts} | args)

    no_status = _refused(call())
    eleven = _refused(call(status="is thinking...", loading_messages=[f"m{i}" for i in range(11)]))
    not_text = _refused(call(status="is thinking...", loading_messages=[1, 2]))
    no_channel = _refused(call(status="x", channel_id="C0NOWHERE"))
    no_thread = _refused(call(status="x", thread_ts="1.000001"))

    assert no_status["error"] == "invalid_arguments"
    assert "status" in no_status["response_metadata"]["messages"][0]
    assert eleven["error"] == "invalid_arguments" and "10" in str(eleven["response_metadata"])
    assert not_text["error"] == "invalid_arguments"
    assert no_channel["error"] == "channel_not_found"
    assert no_thread["error"] == "invalid_thread_ts"
    assert slack.assistant_thread(channel, ts).statuses == []


def test_an_agent_apps_prompts_go_on_its_messages_tab_and_a_thread_ts_changes_nothing(
    slack: SlackEmulator, client: WebClient
) -> None:
    channel, ts = _asked(slack)
    prompts = [{"title": "Refunds", "message": "What is our refund policy?"}]

    client.assistant_threads_setSuggestedPrompts(
        channel_id=channel, title="Ask me about", prompts=prompts
    )
    client.assistant_threads_setSuggestedPrompts(
        channel_id=channel, thread_ts=ts, prompts=[{"title": "Other", "message": "Other?"}]
    )

    tab = slack.assistant_thread(channel)
    assert (tab.prompts_title, tab.prompts) == ("Ask me about", prompts)
    assert slack.assistant_thread(channel, ts).prompts == []


def test_an_assistant_apps_prompts_go_on_its_thread() -> None:
    with SlackEmulator(experience="assistant") as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        channel, ts = _asked(slack)
        prompts = [{"title": "Refunds", "message": "What is our refund policy?"}]

        client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, thread_ts=ts, prompts=prompts
        )

        assert slack.assistant_thread(channel, ts).prompts == prompts


def test_suggested_prompts_are_one_to_four_with_a_title_and_a_message(
    slack: SlackEmulator, client: WebClient
) -> None:
    channel, _ = _asked(slack)
    five = [{"title": f"t{i}", "message": f"m{i}"} for i in range(5)]

    too_many = _refused(
        lambda: client.assistant_threads_setSuggestedPrompts(channel_id=channel, prompts=five)
    )
    none = _refused(
        lambda: client.assistant_threads_setSuggestedPrompts(channel_id=channel, prompts=[])
    )
    untitled = _refused(
        lambda: client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, prompts=[{"message": "What is our refund policy?"}]
        )
    )

    assert too_many["error"] == none["error"] == untitled["error"] == "invalid_arguments"
    assert "prompts/0/title" in str(untitled["response_metadata"])
    assert slack.assistant_thread(channel).prompts == []


def test_set_title_names_a_thread_and_needs_a_title(
    slack: SlackEmulator, client: WebClient
) -> None:
    channel, ts = _asked(slack)

    client.assistant_threads_setTitle(channel_id=channel, thread_ts=ts, title="Refund policy")
    untitled = _refused(
        lambda: client.assistant_threads_setTitle(channel_id=channel, thread_ts=ts, title="")
    )

    assert slack.assistant_thread(channel, ts).title == "Refund policy"
    assert untitled["error"] == "invalid_arguments"


def test_a_token_without_assistant_write_sets_a_status_but_not_prompts_or_titles() -> None:
    with SlackEmulator(scopes={"chat:write", "im:history"}) as slack:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        channel, ts = _asked(slack)

        client.assistant_threads_setStatus(channel_id=channel, thread_ts=ts, status="is thinking")
        title = _refused(
            lambda: client.assistant_threads_setTitle(channel_id=channel, thread_ts=ts, title="t")
        )
        prompts = _refused(
            lambda: client.assistant_threads_setSuggestedPrompts(
                channel_id=channel, prompts=[{"title": "t", "message": "m"}]
            )
        )

        assert slack.assistant_thread(channel, ts).status == "is thinking"
        assert title["error"] == prompts["error"] == "missing_scope"
        assert title["needed"] == "assistant:write"
        assert title["provided"] == "chat:write,im:history"


def test_a_workspace_without_the_methods_answers_unknown_method(
    slack: SlackEmulator, client: WebClient
) -> None:
    channel, ts = _asked(slack)
    slack.remove_methods("assistant.threads.setStatus")

    refused = _refused(
        lambda: client.assistant_threads_setStatus(
            channel_id=channel, thread_ts=ts, status="is thinking"
        )
    )

    assert refused["error"] == "unknown_method"


def test_streams_carry_task_and_plan_chunks_and_unknown_ones_are_refused(
    slack: SlackEmulator, client: WebClient
) -> None:
    channel, ts = _asked(slack)
    task = TaskUpdateChunk(id="t1", title="Reading the dataset", status="in_progress")

    started = client.chat_startStream(
        channel=channel,
        thread_ts=ts,
        task_display_mode="plan",
        chunks=[PlanUpdateChunk(title="Training plan"), task],
    )
    client.chat_appendStream(
        channel=channel,
        ts=started["ts"],
        chunks=[
            MarkdownTextChunk(text="Started."),
            TaskUpdateChunk(id="t1", title="Reading the dataset", status="complete"),
        ],
    )
    bad_type = _refused(
        lambda: client.chat_appendStream(
            channel=channel, ts=started["ts"], chunks=[{"type": "thinking", "text": "hm"}]
        )
    )
    bad_status = _refused(
        lambda: client.chat_appendStream(
            channel=channel,
            ts=started["ts"],
            chunks=[{"type": "task_update", "id": "t1", "title": "x", "status": "done"}],
        )
    )
    bad_mode = _refused(
        lambda: client.chat_startStream(
            channel=channel, thread_ts=ts, task_display_mode="grid", markdown_text="hi"
        )
    )

    message = slack.messages(channel, ts)[-1]
    assert message["text"] == "Started."
    assert [(c["type"], c.get("status")) for c in message["chunks"]] == [
        ("plan_update", None),
        ("task_update", "in_progress"),
        ("task_update", "complete"),
    ]
    assert bad_type["error"] == bad_status["error"] == bad_mode["error"] == "invalid_arguments"
    assert "/chunks/0/type" in str(bad_type["response_metadata"])
    assert "/chunks/0/status" in str(bad_status["response_metadata"])


def test_home_tab_views_over_slacks_limits_are_refused(
    slack: SlackEmulator, client: WebClient
) -> None:
    user = slack.add_user("minji")
    block = {"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}

    client.views_publish(user_id=user, view={"type": "home", "blocks": [block]})
    too_many = _refused(
        lambda: client.views_publish(user_id=user, view={"type": "home", "blocks": [block] * 101})
    )
    metadata = _refused(
        lambda: client.views_publish(
            user_id=user, view={"type": "home", "blocks": [block], "private_metadata": "x" * 3001}
        )
    )
    callback = _refused(
        lambda: client.views_publish(
            user_id=user, view={"type": "home", "blocks": [block], "callback_id": "x" * 256}
        )
    )
    message_only = _refused(
        lambda: client.views_publish(
            user_id=user, view={"type": "home", "blocks": [{"type": "markdown", "text": "hi"}]}
        )
    )

    assert too_many["error"] == metadata["error"] == callback["error"] == "invalid_arguments"
    assert "private_metadata" in str(metadata["response_metadata"])
    assert message_only["error"] == "invalid_blocks"
    assert [v["blocks"][0]["text"]["text"] for v in slack.views.values()] == ["Hello"]


def test_opening_the_app_sends_app_home_opened_signed_with_its_tab(
    slack: SlackEmulator, receiver: Receiver, client: WebClient
) -> None:
    user = slack.add_user("minji")
    client.views_publish(user_id=user, view={"type": "home", "blocks": []})

    messages = slack.open_app_home(user, "messages")
    home = slack.open_app_home(user, "home")

    assert messages.statuses == home.statuses == [200]
    first, second = (e["event"] for e in receiver.envelopes())
    assert first["type"] == second["type"] == "app_home_opened"
    assert (first["tab"], first["user"], first["channel"]) == (
        "messages",
        user,
        slack.open_dm(user),
    )
    assert "view" not in first and second["view"]["type"] == "home"


MANIFEST: dict[str, Any] = {
    "display_information": {"name": "tunebot"},
    "features": {
        "bot_user": {"display_name": "tunebot"},
        "agent_view": {
            "agent_description": "Answers from your team's model.",
            "suggested_prompts": [{"title": "Refunds", "message": "What is our refund policy?"}],
        },
    },
    "oauth_config": {"scopes": {"bot": ["chat:write", "assistant:write", "im:history"]}},
    "settings": {
        "event_subscriptions": {
            "request_url": "https://example.com/slack/events",
            "bot_events": ["app_home_opened", "message.im"],
        }
    },
}


def _validate(slack: SlackEmulator, manifest: dict[str, Any]) -> dict[str, Any]:
    config = WebClient(token=slack.config_token, base_url=slack.api_url)
    try:
        return dict(config.apps_manifest_validate(manifest=manifest).data)  # type: ignore[arg-type]
    except SlackApiError as error:
        return dict(error.response.data)  # type: ignore[arg-type]


def test_a_manifest_slack_accepts_validates(slack: SlackEmulator) -> None:
    assert _validate(slack, MANIFEST) == {"ok": True}


def test_a_manifest_validation_points_at_each_thing_slack_refuses(slack: SlackEmulator) -> None:
    manifest = json.loads(json.dumps(MANIFEST))
    agent = manifest["features"]["agent_view"]
    agent["agent_description"] = "x" * 301
    agent["suggested_prompts"] *= 5
    agent["greeting"] = "hello"
    manifest["settings"]["token_rotation_disabled"] = True
    manifest["oauth_config"]["scopes"]["bot"].remove("im:history")

    answer = _validate(slack, manifest)
    events_only = json.loads(json.dumps(MANIFEST))
    events_only["oauth_config"]["scopes"]["bot"].remove("im:history")
    scopes = _validate(slack, events_only)

    assert answer["ok"] is False and answer["error"] == "invalid_manifest"
    assert {e["pointer"] for e in answer["errors"]} == {
        "/features/agent_view/agent_description",
        "/features/agent_view/suggested_prompts",
        "/features/agent_view/greeting",
        "/settings/token_rotation_disabled",
    }
    assert [e["pointer"] for e in scopes["errors"]] == [
        "/settings/event_subscriptions/bot_events/1"
    ]
    assert "im:history" in scopes["errors"][0]["message"]


def test_manifest_apis_take_only_a_configuration_token(
    slack: SlackEmulator, client: WebClient
) -> None:
    config = WebClient(token=slack.config_token, base_url=slack.api_url)

    with_bot_token = _refused(lambda: client.apps_manifest_validate(manifest=MANIFEST))
    config_elsewhere = _refused(lambda: config.chat_postMessage(channel="C1", text="hi"))

    assert with_bot_token["error"] == config_elsewhere["error"] == "not_allowed_token_type"
