"""Feedback through the real SDKs: buttons on answers, votes, corrections, retention, privacy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from admin.feedback import forget_old_texts
from admin.scheduler import build_scheduler
from bot.config import ConfigError, Settings
from bot.feedback_views import CORRECTION_BLOCK, FEEDBACK_ACTION, SUGGEST_ACTION
from emulators.sandbox import Sandbox
from storage import repo, upload_repo
from storage.models import Answer, AnswerCorrection, AnswerVote, AuditEntry

ADMIN = "UADMIN001"
CHANNEL = "C0GENERAL1"


@pytest.fixture
def box(database_url: str) -> Iterator[Sandbox]:
    with Sandbox.open(database_url=database_url, admins=frozenset({ADMIN})) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        b.slack.add_channel("general", channel_id=CHANNEL)
        yield b


def ask(box: Sandbox, user: str, text: str, channel: str = CHANNEL) -> dict[str, Any]:
    """Ask the bot and return its finished answer's last message."""
    mention = "" if channel.startswith("D") else f"<@{box.slack.bot_user_id}> "
    asked = box.slack.post_as_user(user, channel, mention + text)
    box.wait_for_turn(channel, asked.ts)
    return box.replies_after(channel, asked.ts, asked.ts)[-1]


def answers(box: Sandbox) -> list[Answer]:
    with box.deps.session_factory() as session:
        return list(session.scalars(select(Answer).order_by(Answer.id)).all())


def votes(box: Sandbox) -> list[tuple[str, str]]:
    with box.deps.session_factory() as session:
        return [(v.user_id, v.vote) for v in session.scalars(select(AnswerVote)).all()]


def corrections(box: Sandbox) -> list[str]:
    with box.deps.session_factory() as session:
        return [c.text or "" for c in session.scalars(select(AnswerCorrection)).all()]


def feedback_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in message.get("blocks") or [] if b["type"] == "context_actions"]


def thanks(box: Sandbox, user: str, count: int) -> list[str]:
    return box.slack.wait_for(
        lambda: [e["text"] for e in box.slack.ephemeral if e["user"] == user][count - 1 :] or None
    )


def suggest(box: Sandbox, user: str, message: dict[str, Any], correction: str) -> None:
    """👎, then "Suggest a better answer", then submit the modal with `correction`."""
    before = len(box.slack.views)

    def offers() -> int:
        return len([e for e in box.slack.ephemeral if e["user"] == user and _has_suggest(e)])

    offered = offers()
    box.slack.click_feedback(user, CHANNEL, message["ts"], positive=False)
    box.slack.wait_for(lambda: offers() > offered or None)
    box.slack.click_ephemeral_button(user, SUGGEST_ACTION)
    view = box.slack.wait_for(lambda: list(box.slack.views.values())[before:])[0]
    values = {
        CORRECTION_BLOCK: {CORRECTION_BLOCK: {"type": "plain_text_input", "value": correction}}
    }
    box.slack.send_interaction(
        user, {"type": "view_submission", "view": {**view, "state": {"values": values}}}
    )


def _has_suggest(ephemeral: dict[str, Any]) -> bool:
    return any(
        e.get("action_id") == SUGGEST_ACTION
        for b in ephemeral.get("blocks") or []
        for e in b.get("elements") or []
    )


def command(box: Sandbox, text: str, user: str = ADMIN) -> dict[str, Any]:
    before = len(box.slack.responses)
    status, body = box.slack.send_slash_command(user, CHANNEL, "/finetune", text)
    assert status == 200
    if body and '"text"' in body:
        return dict(json.loads(body))
    return box.slack.wait_for(lambda: box.slack.responses[before:], timeout=30)[0]


def test_the_final_message_of_an_answer_carries_the_feedback_buttons(box: Sandbox) -> None:
    user = box.slack.add_user("minji")

    message = ask(box, user, "when is payday?")

    [block] = feedback_blocks(message)
    [element] = block["elements"]
    assert element["type"] == "feedback_buttons" and element["action_id"] == FEEDBACK_ACTION
    assert {element["positive_button"]["value"], element["negative_button"]["value"]} == {
        "positive",
        "negative",
    }
    stop = next(c for c in box.slack.calls if c.method == "chat.stopStream")
    assert "context_actions" in str(stop.params["blocks"])
    [answer] = answers(box)
    assert answer.reply_ts == message["ts"] and answer.text == message["text"]
    # Where, who asked and which model answered are the turn's: the question's own row.
    turn = answer.turn
    assert (turn.user_id, turn.thread_ts, turn.outcome) == (user, message["thread_ts"], "answered")
    assert turn.model == box.settings.base_model and not answer.is_dm
    assert turn.provider == box.deps.base_model.provider
    assert answer.prompt is not None
    assert [m["role"] for m in answer.prompt] == ["system", "user"]
    assert answer.prompt[-1]["content"] == "when is payday?"


def test_a_long_answer_carries_the_buttons_on_its_last_part_only(box: Sandbox) -> None:
    box.slack.ws.stream_limit = 400
    box.openai.reply = lambda model, messages: "word " * 200 + "end"
    user = box.slack.add_user("minji")
    asked = box.slack.post_as_user(user, CHANNEL, f"<@{box.slack.bot_user_id}> tell me a lot")
    box.wait_for_turn(CHANNEL, asked.ts)

    parts = box.replies_after(CHANNEL, asked.ts, asked.ts)

    assert len(parts) >= 3
    assert [bool(feedback_blocks(p)) for p in parts] == [False] * (len(parts) - 1) + [True]
    assert answers(box)[0].reply_ts == parts[-1]["ts"]
    assert answers(box)[0].text == "word " * 200 + "end"


def test_when_streaming_is_refused_the_posted_answer_carries_the_buttons(box: Sandbox) -> None:
    box.slack.fail_next("chat.startStream", error="not_allowed")
    user = box.slack.add_user("minji")

    message = ask(box, user, "hello?")

    assert feedback_blocks(message) and message["blocks"][0]["type"] == "markdown"
    assert message["blocks"][0]["text"] == message["text"] and "hello?" in message["text"]
    assert answers(box)[0].reply_ts == message["ts"]


def test_refused_buttons_do_not_turn_an_answer_into_an_apology(box: Sandbox) -> None:
    box.slack.fail_next("chat.stopStream", error="invalid_blocks")
    user = box.slack.add_user("minji")

    message = ask(box, user, "still answered?")

    assert "still answered?" in message["text"] and "Sorry" not in message["text"]
    assert not feedback_blocks(message)
    stops = [c for c in box.slack.calls if c.method == "chat.stopStream"]
    assert len(stops) == 2 and "blocks" not in stops[-1].params


def test_an_apology_carries_no_buttons_and_is_not_recorded(box: Sandbox) -> None:
    box.openai.fail_next("chat", status=503, times=3)
    user = box.slack.add_user("minji")

    message = ask(box, user, "hi")

    assert "Sorry" in message["text"] and not message.get("blocks")
    assert answers(box) == []


def test_a_click_is_stored_once_and_can_be_changed(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    message = ask(box, user, "who owns billing?")

    assert box.slack.click_feedback(user, CHANNEL, message["ts"], positive=True) == 200
    assert "Thanks for rating this answer 👍" in thanks(box, user, 1)[0]
    box.slack.click_feedback(user, CHANNEL, message["ts"], positive=True)
    assert "already rated" in thanks(box, user, 2)[0]
    assert votes(box) == [(user, "positive")]

    box.slack.click_feedback(user, CHANNEL, message["ts"], positive=False)
    assert "Changed your rating of this answer to 👎" in thanks(box, user, 3)[0]
    assert votes(box) == [(user, "negative")]
    ephemeral = [e for e in box.slack.ephemeral if e["user"] == user][-1]
    assert ephemeral["channel"] == CHANNEL and ephemeral["thread_ts"] == message["thread_ts"]


def test_a_negative_click_offers_a_prefilled_modal_whose_correction_is_stored(
    box: Sandbox,
) -> None:
    user = box.slack.add_user("minji")
    message = ask(box, user, "when do we deploy?")

    suggest(box, user, message, "  We deploy on Fridays at 3 pm.  ")

    [view] = box.slack.views.values()
    field = next(b for b in view["blocks"] if b["type"] == "input")["element"]
    assert field["type"] == "plain_text_input" and field["initial_value"] == message["text"]
    assert box.slack.wait_for(lambda: corrections(box)) == ["We deploy on Fridays at 3 pm."]
    assert votes(box) == [(user, "negative")]
    assert box.slack.acks[-1]["kind"] == "view_submission" and box.slack.acks[-1]["status"] == 200


def test_an_empty_correction_is_refused_in_the_form(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    message = ask(box, user, "when do we deploy?")

    suggest(box, user, message, "   ")

    ack = box.slack.acks[-1]
    assert ack["kind"] == "view_submission" and CORRECTION_BLOCK in ack["body"]
    assert corrections(box) == []


def test_feedback_shows_counts_per_model_corrections_and_the_latest_negatives(
    box: Sandbox,
) -> None:
    minji, jun = box.slack.add_user("minji"), box.slack.add_user("jun")
    first = ask(box, minji, "first question")
    second = ask(box, minji, "second question")
    box.slack.click_feedback(minji, CHANNEL, first["ts"], positive=True)
    box.slack.click_feedback(jun, CHANNEL, first["ts"], positive=True)
    suggest(box, jun, second, "A better second answer.")
    box.slack.wait_for(lambda: corrections(box))

    shown = command(box, "feedback")

    assert shown["response_type"] == "ephemeral"
    text = shown["text"]
    model = box.settings.base_model
    where = box.deps.providers.label(box.deps.base_model.provider)
    assert text.count(f"`{model}` at {where}: 👍 2  👎 1") == 2  # 7-day and 30-day lines
    assert "Last 7 days*: 1 correction" in text
    link = f"/archives/{CHANNEL}/p{second['ts'].replace('.', '')}"
    assert link in text and f"/p{first['ts'].replace('.', '')}" not in text


def test_feedback_dataset_builds_a_chat_dataset_and_preference_pairs(box: Sandbox) -> None:
    minji, jun = box.slack.add_user("minji"), box.slack.add_user("jun")
    for n in range(10):
        suggest(box, minji, ask(box, minji, f"question {n}"), f"The right answer {n}.")
    for n in range(2):
        liked = ask(box, minji, f"liked {n}")
        box.slack.click_feedback(jun, CHANNEL, liked["ts"], positive=True)
    mixed = ask(box, minji, "mixed one")
    box.slack.click_feedback(minji, CHANNEL, mixed["ts"], positive=True)
    box.slack.click_feedback(jun, CHANNEL, mixed["ts"], positive=False)
    disliked = ask(box, minji, "disliked one")
    box.slack.click_feedback(jun, CHANNEL, disliked["ts"], positive=False)
    box.slack.wait_for(lambda: (len(corrections(box)) == 10 and len(votes(box)) == 15) or None)

    text = command(box, "feedback dataset min_votes=1")["text"]

    assert "2 answers rated 👍, 10 answers corrected → 12 chat examples, 10 preference pairs" in (
        text
    )
    assert "Left out: 1 answer rated both 👍 and 👎" in text
    assert "Left out: 1 answer rated 👎 without a correction" in text
    assert "Stored as *ds-1*" in text and "Stored as *ds-2*" in text and "method=dpo" in text
    listing = command(box, "datasets")["text"]
    assert "*ds-1* `feedback-" in listing and "from feedback" in listing
    with box.deps.session_factory() as session:
        chat, pairs = (
            repo.get_dataset(session, dataset_id=1),
            repo.get_dataset(session, dataset_id=2),
        )
        assert chat is not None and pairs is not None
        assert chat.origin == pairs.origin == "feedback" and chat.examples == 12
        assert pairs.examples == 10 and pairs.source_format != chat.source_format
        sent = [upload_repo.find_upload(session, dataset_id=d, provider="openai") for d in (1, 2)]
        assert [u.status if u else None for u in sent] == ["uploaded", "uploaded"]
    uploaded = [c for f, c in box.openai.files.values() if "feedback" in f["filename"]]
    assert len(uploaded) == 2
    lines = [line for content in uploaded for line in content.decode().splitlines()]
    assert any('"The right answer 3."' in line and "non_preferred_output" in line for line in lines)
    assert any('"liked 0"' in line and "messages" in line for line in lines)
    assert not any("mixed one" in line or "disliked one" in line for line in lines)


@pytest.mark.parametrize("dms_on", [False, True])
def test_dm_answers_are_exported_only_with_feedback_dms_on(database_url: str, dms_on: bool) -> None:
    with Sandbox.open(
        database_url=database_url, admins=frozenset({ADMIN}), feedback_dms=dms_on
    ) as box:
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_channel("general", channel_id=CHANNEL)
        user = box.slack.add_user("minji")
        dm = box.slack.open_dm(user)
        message = ask(box, user, "a private question", channel=dm)
        box.slack.click_feedback(user, dm, message["ts"], positive=True)
        box.slack.wait_for(lambda: votes(box) or None)

        text = command(box, "feedback dataset")["text"]

        [stored] = answers(box)
        assert stored.is_dm and stored.reply_ts == message["ts"]
        if dms_on:
            assert stored.text == message["text"] and "included" in text
            assert "1 answer rated 👍" in text
        else:
            assert stored.text is None and stored.prompt is None
            assert "Left out: 1 answer given in DMs" in text
            assert "a private question" not in str(box.openai.files)


def test_the_retention_job_deletes_old_texts_and_keeps_the_votes(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    message = ask(box, user, "old question")
    suggest(box, user, message, "An old correction.")
    box.slack.wait_for(lambda: corrections(box))

    now = datetime.now(UTC)
    assert forget_old_texts(box.deps.session_factory, keep_days=90, now=now) == 0
    later = now + timedelta(days=91)
    assert forget_old_texts(box.deps.session_factory, keep_days=90, now=later) == 1
    assert forget_old_texts(box.deps.session_factory, keep_days=90, now=later) == 0

    [answer] = answers(box)
    assert answer.text is None and answer.prompt is None
    assert corrections(box) == [""] and votes(box) == [(user, "negative")]
    scheduler = build_scheduler(
        box.deps.poller(), poll_seconds=60, default_model="m", feedback_keep_days=30
    )
    assert scheduler.get_job("expire_feedback") is not None


def test_non_admins_cannot_list_or_export_feedback(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    for text in ("feedback", "feedback dataset"):
        status, body = box.slack.send_slash_command(user, CHANNEL, "/finetune", text)
        assert status == 200 and "Only tunebot admins" in body
    with box.deps.session_factory() as session:
        refused = session.scalars(select(AuditEntry.outcome)).all()
    assert refused == ["refused: not an admin"] * 2
    assert not [f for f, _ in box.openai.files.values() if "feedback" in f["filename"]]


def test_help_lists_feedback_and_a_bad_date_is_a_usage_error(box: Sandbox) -> None:
    assert "`/finetune feedback dataset [since=YYYY-MM-DD]" in command(box, "help")["text"]
    answer = command(box, "feedback dataset since=yesterday")
    assert "`since=` expects a date such as 2026-11-01" in answer["text"]


def test_feedback_settings_default_to_private_and_90_days_and_name_a_bad_value() -> None:
    default = Settings.from_env({}, env_file=None)
    assert not default.feedback_dms and default.feedback_keep_days == 90
    chosen = Settings.from_env(
        {"TUNEBOT_FEEDBACK_DMS": "on", "TUNEBOT_FEEDBACK_KEEP_DAYS": "30"}, env_file=None
    )
    assert chosen.feedback_dms and chosen.feedback_keep_days == 30
    with pytest.raises(ConfigError, match="TUNEBOT_FEEDBACK_KEEP_DAYS"):
        Settings.from_env({"TUNEBOT_FEEDBACK_KEEP_DAYS": "0"}, env_file=None)
    with pytest.raises(ConfigError, match="TUNEBOT_FEEDBACK_DMS"):
        Settings.from_env({"TUNEBOT_FEEDBACK_DMS": "yes please"}, env_file=None)
