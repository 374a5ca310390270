"""ReplyWriter against the Slack emulator: no text is lost whatever Slack answers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.deps import build_slack_client
from bot.server import HttpServer, build_asgi
from bot.streaming import ReplyWriter
from emulators.slack import SlackEmulator
from storage.db import build_engine

TEXT = "".join(f"Sentence {i} of a long answer about the quarterly plan. " for i in range(60))


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(stream_limit=1000) as emulator:
        yield emulator


def _write(slack: SlackEmulator, text: str = TEXT) -> tuple[str, str, ReplyWriter]:
    client = build_slack_client(
        Settings(slack_bot_token=slack.bot_token, slack_api_url=slack.api_url)
    )
    user = slack.add_user("minji")
    channel = slack.add_channel("general")
    asked = slack.post_as_user(user, channel, "question")
    writer = ReplyWriter(
        client,
        channel=channel,
        thread_ts=asked.ts,
        recipient_user_id=user,
        recipient_team_id=slack.team_id,
    )
    for start in range(0, len(text), 7):
        writer.write(text[start : start + 7])
    writer.finish()
    return channel, asked.ts, writer


def _replies(slack: SlackEmulator, channel: str, thread_ts: str) -> list[str]:
    return [m["text"] for m in slack.messages(channel, thread_ts) if m.get("bot_id")]


def test_a_reply_longer_than_one_stream_continues_in_new_messages(slack: SlackEmulator) -> None:
    channel, thread_ts, writer = _write(slack)
    replies = _replies(slack, channel, thread_ts)
    assert len(replies) >= 3
    assert "".join(replies) == TEXT
    assert len(writer.message_ts) == len(replies)


def test_refused_streaming_falls_back_to_post_then_update(slack: SlackEmulator) -> None:
    slack.fail_next("chat.startStream", error="not_allowed")
    channel, thread_ts, _ = _write(slack, TEXT[:900])
    assert _replies(slack, channel, thread_ts) == [TEXT[:900]]
    methods = [c.method for c in slack.calls]
    assert "chat.postMessage" in methods and "chat.update" in methods


def test_an_expired_stream_is_completed_with_an_update(slack: SlackEmulator) -> None:
    slack.fail_next("chat.appendStream", error="message_not_in_streaming_state")
    channel, thread_ts, _ = _write(slack, TEXT[:900])
    assert _replies(slack, channel, thread_ts) == [TEXT[:900]]


def test_rate_limited_appends_are_retried_without_losing_text(slack: SlackEmulator) -> None:
    slack.fail_next("chat.appendStream", status=429, retry_after=0, times=2)
    channel, thread_ts, _ = _write(slack, TEXT[:900])
    assert _replies(slack, channel, thread_ts) == [TEXT[:900]]


def test_healthz_is_503_when_the_database_is_down() -> None:
    engine = build_engine("postgresql://nobody@127.0.0.1:1/none")
    server = HttpServer(build_asgi(None, engine), host="127.0.0.1", port=0).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{server.url}/healthz", timeout=10)
        assert raised.value.code == 503
        assert json.loads(raised.value.read())["database"] == "down"
    finally:
        server.stop()
        engine.dispose()
