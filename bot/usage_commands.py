"""/finetune usage: tokens and their cost per model, channel or person over the last days, the
paid deployments' running cost and the month's budget, as Block Kit within a message's limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Respond

from admin import usage
from admin.budget import SpendGauge
from admin.commands import Command, UsageOptions
from admin.usage import DMS, TokenCost, UsageGroup, UsageReport, usd
from bot.deps import Deps
from storage.models import utcnow
from storage.usage_repo import GroupBy

Label = Callable[[str], str]  # provider name -> what people call it

MAX_ROWS = 40  # groups listed one per line; the rest are summed on one line
SECTION_TEXT = 3000  # Slack's limit for a section's text


def show_usage(deps: Deps, parsed: Command, respond: Respond) -> str:
    """Reply with the usage report the options ask for; returns the audit outcome."""
    options = UsageOptions.model_validate(parsed.options)
    by = GroupBy(options.by)
    report = usage.usage_report(
        deps.session_factory,
        deps.providers.answer_price,
        usage.running_deployments(deps.providers),
        days=options.days,
        by=by,
        now=utcnow(),
    )
    blocks = build_usage_blocks(report, label=deps.providers.label, budget=deps.budget)
    respond(response_type="ephemeral", text=summary(report), blocks=blocks)
    return f"shown: {options.days} days by {by}"


def summary(report: UsageReport) -> str:
    total = report.total
    return (
        f"Usage in the last {_days(report.days)}: {_answers(total.answers)}, "
        f"{total.tokens:,} tokens, {cost_text(total)}"
    )


def build_usage_blocks(
    report: UsageReport, *, label: Label, budget: SpendGauge | None
) -> list[dict[str, Any]]:
    by = {GroupBy.MODEL: "model", GroupBy.CHANNEL: "channel", GroupBy.USER: "person"}[report.by]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Usage, last {_days(report.days)}, by {by}"},
        },
        _context(
            f"Since {report.since:%Y-%m-%d %H:%M} UTC, from each answer's token usage. "
            "Prices are each provider's published ones (input tokens at the full rate, so an "
            "upper bound where part of a prompt was cached); none published: price unknown."
        ),
    ]
    shown = report.groups[:MAX_ROWS]
    lines = [_group_line(g, report.by, label) for g in shown]
    rest = report.groups[MAX_ROWS:]
    if rest:
        more = TokenCost()
        for group in rest:
            more.merge(group.cost)
        lines.append(f"…and {len(rest)} more: {_figures(more)}")
    if not lines:
        lines.append(f"No answers in the last {_days(report.days)}.")
    else:
        lines.append(f"*Total*: {_figures(report.total)}")
    blocks += [_section(text) for text in _pack(lines)]
    deployments = [_deployment_line(d, report, label) for d in report.deployments[:MAX_ROWS]]
    if len(report.deployments) > MAX_ROWS:
        deployments.append(f"…and {len(report.deployments) - MAX_ROWS} more")
    if deployments:
        lines = ["*Paid deployments running now*", *deployments]
        blocks += [_section(text) for text in _pack(lines)]
    if budget is not None:
        blocks.append(_section(_budget_line(budget)))
    return blocks


def cost_text(cost: TokenCost) -> str:
    """What tokens cost: `$0.0123`, `price unknown`, or `$0.01 + 300 tokens at an unknown
    price`; never $0 for tokens without a price."""
    if cost.unknown_only:
        return "price unknown"
    text = usd(cost.usd)
    if cost.unpriced_tokens:
        text += f" + {cost.unpriced_tokens:,} tokens at an unknown price"
    return text


def _group_line(group: UsageGroup, by: GroupBy, label: Label) -> str:
    if by is GroupBy.MODEL:
        where = label(group.provider) if group.provider else "an unrecorded provider"
        name = f"`{group.model}` at {where}"
        prices = sorted(group.cost.prices - {usage.UNKNOWN})
        basis = f" ({prices[0]})" if len(prices) == 1 else ""
        return f"• {name}: {_figures(group.cost)}{basis}"
    if by is GroupBy.CHANNEL:
        name = "DMs with tunebot" if group.key == DMS else f"<#{group.key}>"
    else:
        name = f"<@{group.key}>"
    return f"• {name}: {_figures(group.cost)}"


def _figures(cost: TokenCost) -> str:
    return (
        f"{_answers(cost.answers)} · {cost.prompt_tokens:,} in + {cost.completion_tokens:,} out "
        f"tokens · {cost_text(cost)}"
    )


def _deployment_line(running: usage.RunningDeployment, report: UsageReport, label: Label) -> str:
    d = running.deployment
    name = f"• `{d.model}` at {label(running.provider)} ({d.state.lower() or 'state unknown'})"
    daily = running.daily_usd
    if daily is None:
        return f"{name}: cost unknown"
    month = running.month_usd(report.now)
    so_far = f", {usd(month)} so far this month" if month is not None else ", started when unknown"
    return f"{name}: {usd(daily)} a day{so_far}"


def _budget_line(gauge: SpendGauge) -> str:
    spend = gauge.refresh()
    limit = gauge.budget.limit_usd
    return (
        f"*Budget for {spend.month}*: {usd(spend.total_usd)} of {usd(limit)} "
        f"({gauge.budget.percent(spend):.0f}%): answers {cost_text(spend.tokens)}, training "
        f"{usd(spend.training_usd)}, paid deployments {usd(spend.deployments_usd)}"
        + (
            f" (+{spend.unpriced_deployments} at an unknown cost)"
            if spend.unpriced_deployments
            else ""
        )
    )


def _pack(lines: list[str]) -> list[str]:
    """Lines joined into texts of at most a section's length, none split."""
    texts: list[str] = []
    for line in lines:
        line = line[:SECTION_TEXT]
        if texts and len(texts[-1]) + 1 + len(line) <= SECTION_TEXT:
            texts[-1] += "\n" + line
        else:
            texts.append(line)
    return texts


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _days(days: int) -> str:
    return "day" if days == 1 else f"{days} days"


def _answers(n: int) -> str:
    return f"{n:,} answer{'s' if n != 1 else ''}"
