"""Socket Mode (SLACK_APP_TOKEN set): the bot on Bolt's SocketModeHandler and the SDK's own
websocket client, against the Slack emulator's apps.connections.open and websocket."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulators.openai import OpenAIEmulator
from emulators.sandbox import Sandbox
from emulators.slack import SlackEmulator
from tests.sandbox_helpers import ADMIN, chat_jsonl
from tests.service_helpers import free_port, service_env, start_tunebot_run


@pytest.fixture
def box(database_url: str) -> Iterator[Sandbox]:
    with Sandbox.open(database_url=database_url, socket_mode=True, admins=frozenset({ADMIN})) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        yield b


def _mention(box: Sandbox) -> str:
    return f"<@{box.slack.bot_user_id}>"


def _answers(box: Sandbox, channel: str, ts: str) -> list[str]:
    return [m["text"] for m in box.replies_after(channel, ts, ts)]


def _events(box: Sandbox) -> list[dict[str, Any]]:
    return [e.payload["event"] for e in box.slack.socket_mode.envelopes if e.type == "events_api"]


def test_mentions_and_dms_arrive_over_the_socket_and_are_answered(box: Sandbox) -> None:
    assert box.settings.socket_mode and box.slack.events_url is None  # no request URL at all
    user = box.slack.add_user("minji")
    channel = box.slack.add_channel("general")

    asked = box.slack.post_as_user(user, channel, f"{_mention(box)} when is payday?")
    turn = box.wait_for_turn(channel, asked.ts)
    dm = box.slack.open_dm(user)
    direct = box.slack.post_as_user(user, dm, "and in a DM?")
    box.wait_for_turn(dm, direct.ts)

    assert asked.statuses == [200, 200] and direct.statuses == [200]  # each envelope acked
    assert [e["type"] for e in _events(box)] == ["message", "app_mention", "message"]
    [answer] = _answers(box, channel, asked.ts)
    assert answer.startswith(f"[{box.settings.base_model}]") and "payday" in answer
    assert turn.outcome == "answered"
    assert {"chat.startStream", "chat.stopStream"} <= {c.method for c in box.slack.calls}
    assert "in a DM" in _answers(box, dm, direct.ts)[0]
    # The app token opened the socket; every Web API call still used the bot token.
    assert box.slack.socket_mode.tickets_issued == 1


def test_a_retried_envelope_gets_one_answer(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    channel = box.slack.add_channel("general")
    asked = box.slack.post_as_user(user, channel, f"{_mention(box)} only once, please")
    box.wait_for_turn(channel, asked.ts)

    assert box.slack.redeliver(asked.event_ids[-1], retry_num=1, retry_reason="timeout") == 200
    retried = box.slack.socket_mode.envelopes[-1]
    marker = box.slack.post_as_user(user, channel, f"{_mention(box)} still there?")
    box.wait_for_turn(channel, marker.ts)

    assert retried.acked.is_set()
    assert len(_answers(box, channel, asked.ts)) == 1
    assert len(box.openai.chat_requests) == 2


def test_a_refresh_request_reconnects_and_answers_once_through_slacks_retries(
    box: Sandbox,
) -> None:
    user = box.slack.add_user("minji")
    channel = box.slack.add_channel("general")

    box.slack.socket_mode.request_refresh()
    # Sent at once, while the SDK swaps connections: its ack can come after Slack's 3 s.
    asked = box.slack.post_as_user(user, channel, f"{_mention(box)} are you back?")
    box.wait_for_turn(channel, asked.ts)
    for event_id, status in zip(asked.event_ids, asked.statuses, strict=True):
        if status != 200:  # not acknowledged in time, so Slack sends it again
            assert box.slack.redeliver(event_id, retry_num=1, retry_reason="timeout") == 200
    later = box.slack.post_as_user(user, channel, f"{_mention(box)} and now?")
    box.wait_for_turn(channel, later.ts)

    assert box.slack.socket_mode.tickets_issued == 2  # a new apps.connections.open
    assert box.slack.socket_mode.connections_opened == 2
    box.slack.wait_for(lambda: box.slack.socket_mode.connected == 1)  # the old one closed
    assert later.statuses == [200, 200]
    assert len(_answers(box, channel, asked.ts)) == 1
    assert len(box.openai.chat_requests) == 2


def test_slash_commands_and_modal_submissions_are_answered_in_their_acks(box: Sandbox) -> None:
    channel = box.slack.add_channel("general")

    status, body = box.slack.send_slash_command(ADMIN, channel, "/finetune", "uplod")
    assert status == 200
    usage = json.loads(body)
    assert usage["response_type"] == "ephemeral" and "Unknown subcommand `uplod`" in usage["text"]

    box.slack.send_slash_command(ADMIN, channel, "/finetune", "upload")
    view = box.slack.wait_for(lambda: next(iter(box.slack.views.values()), None))
    file = box.slack.add_file(ADMIN, "faq.jsonl", chat_jsonl())
    values = {
        "file": {"file": {"type": "file_input", "files": [file]}},
        "split": {"split": {"type": "number_input", "value": "0"}},
    }
    status = box.slack.send_interaction(
        ADMIN,
        {
            "type": "view_submission",
            "user": {"id": ADMIN},
            "view": {**view, "state": {"values": values}},
        },
    )

    assert status == 200
    assert json.loads(box.slack.acks[-1]["body"])["response_action"] == "update"
    submitted = box.slack.socket_mode.envelopes[-1]
    assert submitted.type == "interactive" and submitted.payload["type"] == "view_submission"
    dm = box.slack.open_dm(ADMIN)
    box.slack.wait_for(
        lambda: any("Stored as *ds-1*" in (m.get("text") or "") for m in box.slack.messages(dm)),
        timeout=20,
    )


def test_stopping_the_bot_closes_its_socket(database_url: str) -> None:
    box = Sandbox.open(database_url=database_url, socket_mode=True)
    try:
        assert box.slack.socket_mode.connected == 1
        box.bot.stop()
        deadline = time.monotonic() + 10
        while box.slack.socket_mode.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert box.slack.socket_mode.connected == 0
    finally:
        box.slack.stop()
        box.openai.stop()


def test_tunebot_run_with_an_app_token_serves_over_the_socket(
    tmp_path: Path, database_url: str
) -> None:
    with SlackEmulator() as slack, OpenAIEmulator() as openai:
        env = service_env(
            slack,
            openai,
            free_port(),
            DATABASE_URL=database_url,
            SLACK_APP_TOKEN=slack.app_token,
            TUNEBOT_SCHEDULER="off",
        )
        del env["SLACK_SIGNING_SECRET"]  # Socket Mode needs no signing secret
        process = start_tunebot_run(env, tmp_path)
        try:
            slack.socket_mode.wait_connected(timeout=60)
            user = slack.add_user("minji")
            channel = slack.add_channel("general")
            asked = slack.post_as_user(user, channel, f"<@{slack.bot_user_id}> over the socket?")
            answers = slack.wait_for(
                lambda: [
                    m
                    for m in slack.messages(channel, asked.ts)
                    if m.get("bot_id") and "over the socket?" in m["text"]
                ],
                timeout=30,
            )
            assert len(answers) == 1

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            slack.wait_for(lambda: slack.socket_mode.connected == 0)
        finally:
            if process.poll() is None:
                process.kill()
            _, stderr = process.communicate(timeout=30)
        assert slack.app_token not in stderr and slack.bot_token not in stderr
