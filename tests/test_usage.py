"""/finetune usage through Slack: tokens and their cost by model, channel and person, priced by
each provider's own declaration ("price unknown" where it declares none, never $0), the local
provider's "nothing per token", and a report of hundreds of groups within Slack's limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from admin.providers.base import Deployment
from admin.usage import RunningDeployment, usd
from emulators.sandbox import Sandbox
from emulators.slack_blocks import check_blocks
from storage import repo
from storage.models import Turn, utcnow
from tests.sandbox_helpers import ADMIN, NOTIFY, command
from tests.usage_helpers import (
    GPT_4O,
    LONG_REPLY,
    NANO,
    SUPPORT,
    ask,
    block_text,
    openai_cost,
)


@dataclass
class Answered:
    box: Sandbox
    openai: list[Turn]  # answered by gpt-4o at OpenAI, in the notify channel
    nebius: Turn  # answered in #support by a model at Nebius, which publishes no price
    minji: str
    jun: str


@pytest.fixture
def answered(database_url: str) -> Iterator[Answered]:
    """Two answers from gpt-4o at OpenAI in one channel and one from a model at Nebius in
    #support; minji asked twice, jun once."""
    with Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=NOTIFY,
        base_model=GPT_4O,
        serve_as=("openai", "nebius"),
    ) as box:
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_channel("ml", channel_id=NOTIFY)
        box.slack.add_channel("support", channel_id=SUPPORT)
        minji, jun = box.slack.add_user("minji"), box.slack.add_user("jun")
        box.openai.script(GPT_4O, lambda model, messages: LONG_REPLY)
        answer = command(box, f"use {NANO} provider=nebius channel=<#{SUPPORT}|support>")
        assert "switched tunebot in" in answer["text"]
        openai = [ask(box, NOTIFY, minji, "배포는 언제죠?"), ask(box, NOTIFY, jun, "롤백은?")]
        nebius = ask(box, SUPPORT, minji, "환불 정책은?")
        assert [t.provider for t in [*openai, nebius]] == ["openai", "openai", "nebius"]
        yield Answered(box, openai, nebius, minji, jun)


def _report(box: Sandbox, text: str) -> tuple[dict[str, object], str]:
    response = command(box, text)
    check_blocks(response["blocks"])  # as Slack checks a message's blocks
    return response, block_text(response)


def test_usage_by_model_prices_each_answer_as_its_provider_declares(answered: Answered) -> None:
    response, text = _report(answered.box, "usage")

    prompt = sum(t.prompt_tokens or 0 for t in answered.openai)
    completion = sum(t.completion_tokens or 0 for t in answered.openai)
    cost = openai_cost(answered.openai)
    assert cost > 0.02  # a thousand tokens of reply each, at gpt-4o's price
    assert (
        f"• `{GPT_4O}` at OpenAI: 2 answers · {prompt:,} in + {completion:,} out tokens · "
        f"{usd(cost)} ($2.5 in / $10 out per 1M tokens)"
    ) in text
    nebius = answered.nebius
    unknown = (nebius.prompt_tokens or 0) + (nebius.completion_tokens or 0)
    assert (
        f"• `{NANO}` at Nebius Token Factory: 1 answer · {nebius.prompt_tokens:,} in + "
        f"{nebius.completion_tokens:,} out tokens · price unknown"
    ) in text
    assert f"*Total*: 3 answers · {prompt + (nebius.prompt_tokens or 0):,} in" in text
    assert f"{usd(cost)} + {unknown:,} tokens at an unknown price" in text
    assert "Usage, last 30 days, by model" in text
    assert str(response["text"]).startswith("Usage in the last 30 days: 3 answers")


def test_usage_by_channel_and_by_person(answered: Answered) -> None:
    cost = openai_cost(answered.openai)
    nebius = answered.nebius
    unknown = (nebius.prompt_tokens or 0) + (nebius.completion_tokens or 0)

    _, by_channel = _report(answered.box, "usage by=channel days=7")

    assert "Usage, last 7 days, by channel" in by_channel
    assert f"• <#{NOTIFY}>: 2 answers" in by_channel and f"· {usd(cost)}\n" in by_channel
    assert f"• <#{SUPPORT}>: 1 answer" in by_channel
    assert by_channel.index(f"<#{NOTIFY}>") < by_channel.index(f"<#{SUPPORT}>")  # costliest first

    _, by_person = _report(answered.box, "usage by=USER")

    minji = [answered.openai[0], nebius]
    minji_line = next(line for line in by_person.splitlines() if f"<@{answered.minji}>" in line)
    assert minji_line.startswith(f"• <@{answered.minji}>: 2 answers")
    assert minji_line.endswith(
        f"{usd(openai_cost(minji[:1]))} + {unknown:,} tokens at an unknown price"
    )
    jun_line = next(line for line in by_person.splitlines() if f"<@{answered.jun}>" in line)
    assert jun_line.endswith(f"· {usd(openai_cost(answered.openai[1:]))}")


def test_usage_options_name_what_they_take(answered: Answered) -> None:
    assert (
        "`days=` expects a whole number at least 1" in command(answered.box, "usage days=0")["text"]
    )
    refused = command(answered.box, "usage by=team")["text"]
    assert "`by=` expects `model` or `channel` or `user`" in refused
    assert (
        "/finetune usage [days=30] [by=model|channel|user]" in command(answered.box, "help")["text"]
    )


def _turn(user: str, provider: str, model: str, tokens: tuple[int, int], days_ago: int = 0) -> Turn:
    return Turn(
        channel_id=NOTIFY,
        thread_ts="1.0",
        message_ts="1.0",
        user_id=user,
        provider=provider,
        model=model,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        outcome="answered",
        created_at=utcnow() - timedelta(days=days_ago),
    )


def test_hundreds_of_people_fit_in_one_message_and_the_rest_are_counted(box: Sandbox) -> None:
    people = [f"U{n:08d}" for n in range(300)]
    with box.deps.session_factory.begin() as session:
        for n, user in enumerate(people):
            repo.record_turn(session, turn=_turn(user, "openai", GPT_4O, (100, 1000 + n)))
        # Older than the window: not counted.
        repo.record_turn(session, turn=_turn("UOLD00001", "openai", GPT_4O, (9, 9), days_ago=8))

    response, text = _report(box, "usage by=user days=7")

    listed = [line for line in text.splitlines() if line.startswith("• <@")]
    assert len(listed) == 40
    assert listed[0].startswith(f"• <@{people[-1]}>: 1 answer")  # the costliest first
    assert "UOLD00001" not in text
    assert "…and 260 more: 260 answers · 26,000 in + " in text
    assert "*Total*: 300 answers · 30,000 in + " in text
    assert all(len(b["text"]["text"]) <= 3000 for b in response["blocks"] if b["type"] == "section")


def test_a_local_models_answers_cost_nothing_and_an_unknown_price_is_never_zero(
    box: Sandbox,
) -> None:
    with box.deps.session_factory.begin() as session:
        repo.record_turn(session, turn=_turn("U0LOCAL01", "local", "tunebot-qa", (500, 500)))
        repo.record_turn(session, turn=_turn("U0TOGETH1", "together", "llama-ft", (70, 30)))

    _, text = _report(box, "usage")

    assert "`tunebot-qa` at Local trainer (vLLM): 1 answer · 500 in + 500 out tokens · $0.00 " in (
        text
    )
    assert "(nothing per token)" in text
    assert "`llama-ft` at Together AI: 1 answer · 70 in + 30 out tokens · price unknown" in text
    assert "*Total*: 2 answers · 570 in + 530 out tokens · $0.00 + 100 tokens at an unknown" in (
        text
    )


def test_a_deployment_costs_this_month_from_its_start_or_the_first_of_the_month() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)

    def month_usd(hourly: float | None, since: datetime | None) -> float | None:
        return RunningDeployment("together", Deployment("m", "READY", hourly, since)).month_usd(now)

    assert month_usd(2.0, datetime(2026, 12, 3, 2, tzinfo=UTC)) == 20.0  # ten hours
    assert month_usd(2.0, datetime(2026, 11, 20, tzinfo=UTC)) == 2.0 * 60  # since the 1st
    assert month_usd(2.0, None) is None  # its start is not known: not guessed
    assert month_usd(None, datetime(2026, 12, 1, tzinfo=UTC)) is None
