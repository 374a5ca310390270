"""TUNEBOT_MONTHLY_BUDGET_USD through Slack: admins told once at 80% and once at 100% (two
schedulers, a restart), and once it is spent, answers from the fallback model, or a plain line
that names who can raise it without any model being asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from admin.poller import tick
from admin.usage import usd
from bot.deps import build_deps
from emulators.sandbox import Sandbox
from tests.home_helpers import install_manifest, open_home, text_of
from tests.sandbox_helpers import ADMIN, NOTIFY, tick_at_once
from tests.usage_helpers import (
    GPT_4O,
    LONG_REPLY,
    NANO,
    ask,
    bot_lines,
    openai_cost,
    texts_starting,
)

ADMIN2 = "UADMIN002"


@pytest.fixture
def spending(database_url: str) -> Iterator[Sandbox]:
    """Two admins, a notify channel, and gpt-4o answering about a cent each."""
    with Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN, ADMIN2}),
        notify_channel=NOTIFY,
        base_model=GPT_4O,
    ) as box:
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_user("admin2", user_id=ADMIN2)
        box.slack.add_channel("ml", channel_id=NOTIFY)
        box.openai.script(GPT_4O, lambda model, messages: LONG_REPLY)
        yield box


def _notices(box: Sandbox, prefix: str) -> dict[str, list[str]]:
    """The budget notices starting with `prefix` in the notify channel and each admin's DM."""
    places = {"channel": NOTIFY, ADMIN: box.slack.open_dm(ADMIN), ADMIN2: box.slack.open_dm(ADMIN2)}
    return {who: texts_starting(box, where, prefix) for who, where in places.items()}


def test_admins_are_told_once_at_80_and_once_at_100_percent(spending: Sandbox) -> None:
    box = spending
    member = box.slack.add_user("minji")
    first = [ask(box, NOTIFY, member, "배포는 언제죠?"), ask(box, NOTIFY, member, "롤백은요?")]
    spent = openai_cost(first)
    budget = spent / 0.85  # two answers are 85% of it; a third takes it past 100%
    settings = box.settings.with_overrides(monthly_budget_usd=budget)

    # Two schedulers tick at once, then one ticks again: one notice per place.
    one, two = build_deps(settings), build_deps(settings)
    try:
        tick_at_once(one.poller(), two.poller())
        tick(one.poller())
    finally:
        one.close()
        two.close()

    warned = _notices(box, ":warning:")
    assert {who: len(texts) for who, texts in warned.items()} == {"channel": 1, ADMIN: 1, ADMIN2: 1}
    text = warned["channel"][0]
    assert f"tunebot has spent {usd(spent)} of its {usd(budget)} budget for " in text
    assert "85%" in text and f"answers {usd(spent)}, training $0.00" in text
    assert "Once it is spent, tunebot tells people the budget is spent instead of answering" in text
    assert _notices(box, ":no_entry:") == {"channel": [], ADMIN: [], ADMIN2: []}

    ask(box, NOTIFY, member, "새 질문")
    restarted = build_deps(settings)  # a new process: nothing in memory
    try:
        tick(restarted.poller())
        tick(restarted.poller())
    finally:
        restarted.close()

    spent_notices = _notices(box, ":no_entry:")
    assert {who: len(texts) for who, texts in spent_notices.items()} == {
        "channel": 1,
        ADMIN: 1,
        ADMIN2: 1,
    }
    assert f"tunebot has spent its {usd(budget)} budget for" in spent_notices["channel"][0]
    assert "From now until" in spent_notices["channel"][0]
    assert {who: len(texts) for who, texts in _notices(box, ":warning:").items()} == {
        "channel": 1,
        ADMIN: 1,
        ADMIN2: 1,
    }


def test_once_spent_the_fallback_model_answers(spending: Sandbox) -> None:
    box = spending
    box.restart(monthly_budget_usd=0.01, budget_fallback=("openai", NANO))
    member = box.slack.add_user("minji")
    first = ask(box, NOTIFY, member, "배포는 언제죠?")
    assert first.model == GPT_4O and openai_cost([first]) >= 0.01

    box.deps.budget.refresh()  # what each process does every few seconds in the background
    second = ask(box, NOTIFY, member, "롤백은요?")

    assert (second.model, second.outcome) == (NANO, "answered")
    assert box.openai.chat_requests[-1]["model"] == NANO
    assert any(f"[{NANO}]" in line for line in bot_lines(box, second))


def test_once_spent_without_a_fallback_people_are_told_and_no_model_is_asked(
    spending: Sandbox,
) -> None:
    box = spending
    box.restart(monthly_budget_usd=0.01)
    member = box.slack.add_user("minji")
    ask(box, NOTIFY, member, "배포는 언제죠?")

    box.restart()  # a new process reads this month's spend before its first answer
    before = len(box.openai.chat_requests)
    refused = ask(box, NOTIFY, member, "롤백은요?")
    dm = ask(box, box.slack.open_dm(member), member, "DM으로 물어봐도 되나요?")

    assert len(box.openai.chat_requests) == before
    assert (refused.outcome, dm.outcome) == ("budget_spent", "budget_spent")
    [line] = bot_lines(box, refused)
    assert line.startswith("This month's budget for tunebot is spent, so I can't answer until")
    assert line.endswith(f"<@{ADMIN}> or <@{ADMIN2}> can raise it.")


def test_the_dashboard_shows_this_months_spend_against_the_budget(spending: Sandbox) -> None:
    box = spending
    install_manifest(box)
    box.restart(monthly_budget_usd=0.05)
    turn = ask(box, NOTIFY, box.slack.add_user("minji"), "배포는 언제죠?")

    text = text_of(open_home(box, ADMIN))

    spent = openai_cost([turn])
    assert f"• Answering (tokens): {usd(spent)}" in text
    assert f"• Budget: {usd(spent)} of $0.05 ({spent / 0.05 * 100:.0f}%)" in text
