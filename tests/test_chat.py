"""Chat through the real SDKs: mentions, DMs, follow-ups, retries, failures, model swaps."""

from __future__ import annotations

from typing import Any

from emulators.sandbox import Sandbox
from storage import outbox, repo
from storage.repo import ModelRef


def _mention(box: Sandbox) -> str:
    return f"<@{box.slack.bot_user_id}>"


def _bot_texts(box: Sandbox, channel: str, thread_ts: str, after: str) -> list[str]:
    return [m["text"] for m in box.replies_after(channel, thread_ts, after)]


def _methods(box: Sandbox) -> list[str]:
    return [call.method for call in box.slack.calls]


def test_a_mention_gets_a_streamed_answer_in_its_thread(sandbox: Sandbox) -> None:
    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    asked = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} when is payday?")

    turn = sandbox.wait_for_turn(channel, asked.ts)

    replies = _bot_texts(sandbox, channel, asked.ts, asked.ts)
    assert len(replies) == 1
    assert replies[0].startswith(f"[{sandbox.settings.base_model}]")
    assert "payday" in replies[0]
    assert turn.outcome == "answered" and turn.model == sandbox.settings.base_model
    assert {"chat.startStream", "chat.stopStream"} <= set(_methods(sandbox))
    start = next(c for c in sandbox.slack.calls if c.method == "chat.startStream")
    assert start.params["thread_ts"] == asked.ts
    assert start.params["recipient_user_id"] == user


def test_a_direct_message_is_answered_in_the_dm(sandbox: Sandbox) -> None:
    user = sandbox.slack.add_user("jun")
    dm = sandbox.slack.open_dm(user)
    asked = sandbox.slack.post_as_user(user, dm, "hello there, what can you do?")

    sandbox.wait_for_turn(dm, asked.ts)

    replies = _bot_texts(sandbox, dm, asked.ts, asked.ts)
    assert len(replies) == 1 and "what can you do" in replies[0]


def test_a_follow_up_in_an_answered_thread_sends_the_history(sandbox: Sandbox) -> None:
    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    root = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} who owns billing?")
    sandbox.wait_for_turn(channel, root.ts)
    first_answer = _bot_texts(sandbox, channel, root.ts, root.ts)[0]

    follow = sandbox.slack.post_as_user(user, channel, "and their manager?", thread_ts=root.ts)
    sandbox.wait_for_turn(channel, follow.ts)

    sent = sandbox.openai.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "who owns billing?"
    assert sent[2]["content"] == first_answer
    assert sent[3]["content"] == "and their manager?"
    assert len(_bot_texts(sandbox, channel, root.ts, follow.ts)) == 1


def test_a_thread_the_bot_never_answered_is_left_alone(sandbox: Sandbox) -> None:
    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("random")
    root = sandbox.slack.post_as_user(user, channel, "lunch?")
    sandbox.slack.post_as_user(user, channel, "anyone?", thread_ts=root.ts)
    marker = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} ping")
    sandbox.wait_for_turn(channel, marker.ts)

    assert len(sandbox.openai.chat_requests) == 1
    assert _bot_texts(sandbox, channel, root.ts, root.ts) == []


def test_an_event_delivered_three_times_gets_one_answer(sandbox: Sandbox) -> None:
    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    asked = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} status?")
    mention_event = asked.event_ids[-1]
    assert sandbox.slack.redeliver(mention_event, retry_num=1) == 200
    assert sandbox.slack.redeliver(mention_event, retry_num=2) == 200

    sandbox.wait_for_turn(channel, asked.ts)
    marker = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} still there?")
    sandbox.wait_for_turn(channel, marker.ts)

    assert len(_bot_texts(sandbox, channel, asked.ts, asked.ts)) == 1
    assert len(sandbox.openai.chat_requests) == 2


def test_an_openai_failure_gets_a_friendly_message_and_the_next_is_answered(
    sandbox: Sandbox,
) -> None:
    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    sandbox.openai.fail_next("chat", status=503, times=3)  # the SDK retries twice
    failed = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} hi")
    turn = sandbox.wait_for_turn(channel, failed.ts)

    apology = _bot_texts(sandbox, channel, failed.ts, failed.ts)
    assert turn.outcome == "provider_error" and turn.error_ref
    assert len(apology) == 1
    assert "Sorry" in apology[0] and turn.error_ref in apology[0]
    assert "503" not in apology[0] and "Traceback" not in apology[0]

    again = sandbox.slack.post_as_user(user, channel, "hi again", thread_ts=failed.ts)
    assert sandbox.wait_for_turn(channel, again.ts).outcome == "answered"
    sent = sandbox.openai.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "user"]  # no apology in history


def test_an_unknown_base_model_gets_a_friendly_message(database_url: str) -> None:
    with Sandbox.open(database_url=database_url, base_model="gpt-nonexistent") as box:
        user = box.slack.add_user("minji")
        channel = box.slack.add_channel("general")
        asked = box.slack.post_as_user(user, channel, f"{_mention(box)} hi")

        turn = box.wait_for_turn(channel, asked.ts)

        assert turn.outcome == "model_unavailable"
        assert "not available" in _bot_texts(box, channel, asked.ts, asked.ts)[0]


def test_a_vanished_active_model_falls_back_to_the_base_model_once(database_url: str) -> None:
    with Sandbox.open(database_url=database_url, notify_channel="C0NOTIFY1") as box:
        with box.deps.session_factory.begin() as session:
            repo.set_active_model(
                session, model=ModelRef("openai", "ft:gpt-4o-mini:gone::x"), reason="test"
            )
        user = box.slack.add_user("minji")
        channel = box.slack.add_channel("general")
        first = box.slack.post_as_user(user, channel, f"{_mention(box)} hi")
        box.wait_for_turn(channel, first.ts)
        second = box.slack.post_as_user(user, channel, f"{_mention(box)} and again")
        box.wait_for_turn(channel, second.ts)

        answers = _bot_texts(box, channel, first.ts, first.ts)
        assert answers[0].startswith(f"[{box.settings.base_model}]")
        with box.deps.session_factory() as session:
            assert (
                repo.get_active_model(session, default=ModelRef("openai", "?")).model
                == box.settings.base_model
            )
            notices = outbox.pending(session)
        assert len(notices) == 1 and "ft:gpt-4o-mini:gone::x" in notices[0].payload["text"]
        models = [r["model"] for r in box.openai.chat_requests]
        assert models.count("ft:gpt-4o-mini:gone::x") == 1  # the second message went to base


def test_changing_the_active_model_changes_the_next_answer(sandbox: Sandbox) -> None:
    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    sandbox.openai.add_model("ft:gpt-4o-mini-2024-07-18:acme::abc123")
    with sandbox.deps.session_factory.begin() as session:
        repo.set_active_model(
            session,
            model=ModelRef("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
            reason="test",
        )
    asked = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} who are you?")

    sandbox.wait_for_turn(channel, asked.ts)

    reply = _bot_texts(sandbox, channel, asked.ts, asked.ts)[0]
    assert reply.startswith("[ft:gpt-4o-mini-2024-07-18:acme::abc123]")
    assert sandbox.openai.chat_requests[-1]["model"] == "ft:gpt-4o-mini-2024-07-18:acme::abc123"


def test_edits_deletions_and_top_level_chatter_get_no_answer(sandbox: Sandbox) -> None:
    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    chatter = sandbox.slack.post_as_user(user, channel, "morning all")
    sandbox.slack.edit_as_user(user, channel, chatter.ts, "morning everyone")
    sandbox.slack.delete_as_user(channel, chatter.ts)
    marker = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} ping")
    sandbox.wait_for_turn(channel, marker.ts)

    assert len(sandbox.openai.chat_requests) == 1
    assert sandbox.openai.chat_requests[0]["messages"][-1]["content"] == "ping"


def test_unsigned_requests_are_refused(sandbox: Sandbox) -> None:
    import json
    import urllib.error
    import urllib.request

    body = json.dumps({"type": "event_callback", "event": {"type": "app_mention"}}).encode()
    request = urllib.request.Request(
        sandbox.slack.events_url or "",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=5)
        status = 200
    except urllib.error.HTTPError as error:
        status = error.code
    assert status == 401


def test_healthz_reports_the_database(sandbox: Sandbox) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{sandbox.bot.http.url}/healthz", timeout=5) as response:
        payload: dict[str, Any] = json.loads(response.read())
    assert response.status == 200 and payload["database"] == "up"


def test_a_follow_up_while_the_first_answer_streams_is_answered_too(sandbox: Sandbox) -> None:
    sandbox.openai.chunk_delay = 0.05  # the first answer takes most of a second
    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    root = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} long question")
    sandbox.slack.wait_for(lambda: _bot_texts(sandbox, channel, root.ts, root.ts))

    follow = sandbox.slack.post_as_user(user, channel, "one more thing", thread_ts=root.ts)

    assert sandbox.wait_for_turn(channel, follow.ts).outcome == "answered"


def test_answers_reuse_one_connection_to_the_model_api(sandbox: Sandbox) -> None:
    # A streamed answer read only up to [DONE] leaves its connection unusable, so every
    # answer would pay for a new connection (and, against the real API, a TLS handshake).
    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    first = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} first question")
    sandbox.wait_for_turn(channel, first.ts)
    opened = sandbox.openai.connections

    for n in range(3):
        asked = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} question {n}")
        assert sandbox.wait_for_turn(channel, asked.ts).outcome == "answered"

    assert len(sandbox.openai.state.chat_requests) >= 4
    assert sandbox.openai.connections == opened
