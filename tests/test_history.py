"""Thread history for the model: roles from Slack authors, oldest turns dropped to fit."""

from __future__ import annotations

from admin.tokens import count_messages
from bot.history import budget_for, fit_to_budget, to_chat_messages

BOT = "U0TUNEBOT"


def test_slack_authors_become_user_and_assistant_roles_without_the_mention() -> None:
    slack = [
        {"user": "U1", "text": f"<@{BOT}> what is our SLA?", "ts": "1.0"},
        {"user": BOT, "bot_id": "B1", "text": "99.9%", "ts": "2.0"},
        {"user": "U2", "text": "and for support?", "ts": "3.0"},
        {"bot_id": "B_OTHER", "subtype": "bot_message", "text": "deploy done", "ts": "4.0"},
        {"user": "U1", "subtype": "channel_join", "text": "joined", "ts": "5.0"},
    ]
    assert to_chat_messages(slack, bot_user_id=BOT, bot_id="B1") == [
        {"role": "user", "content": "what is our SLA?"},
        {"role": "assistant", "content": "99.9%"},
        {"role": "user", "content": "and for support?"},
    ]


def test_oldest_turns_are_dropped_first_to_fit_the_budget() -> None:
    turns = [{"role": "user", "content": f"message number {i} " * 20} for i in range(40)]
    kept = fit_to_budget("Be brief.", turns, model="gpt-4o-mini", budget=600)
    assert kept[0] == {"role": "system", "content": "Be brief."}
    assert 1 < len(kept) < len(turns)
    assert kept[1:] == turns[len(turns) - len(kept) + 1 :]
    assert count_messages(kept, "gpt-4o-mini") <= 600
    one_more = [kept[0], turns[len(turns) - len(kept)], *kept[1:]]
    assert count_messages(one_more, "gpt-4o-mini") > 600


def test_the_kept_history_starts_with_a_user_turn() -> None:
    turns = [
        {"role": "user", "content": "x " * 300},
        {"role": "assistant", "content": "short answer"},
        {"role": "user", "content": "follow-up"},
    ]
    kept = fit_to_budget("sys", turns, model="gpt-4o-mini", budget=60)
    assert [t["role"] for t in kept] == ["system", "user"]
    assert kept[-1]["content"] == "follow-up"


def test_a_question_longer_than_the_budget_keeps_its_end() -> None:
    question = "background " * 500 + "so what is the deadline?"
    kept = fit_to_budget("sys", [{"role": "user", "content": question}], model="gpt-4o", budget=80)
    assert kept[-1]["content"].endswith("so what is the deadline?")
    assert count_messages(kept, "gpt-4o") <= 80


def test_budget_respects_the_models_window_and_the_cap() -> None:
    assert budget_for(16_385, max_reply_tokens=1024, cap=100_000) == 16_385 - 1024
    assert budget_for(128_000, max_reply_tokens=1024, cap=16_000) == 16_000


def test_a_model_whose_window_is_unknown_gets_the_cap_not_a_guess() -> None:
    assert budget_for(None, max_reply_tokens=1024, cap=16_000) == 16_000
