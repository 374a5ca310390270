"""Block Kit for the Home tab: which model answers where and how to rate answers, for everyone;
the dashboard with its buttons for admins. Always within Slack's limits for a Home view (100
blocks, 3,000 characters a section, 75 a button's text, 2,000 its value), however many jobs,
channels or deployments there are."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from admin.home import HomeData, JobLine, PaidDeployment, Spend
from admin.usage import usd
from storage.repo import ModelRef

PROMOTE_ACTION = "home_promote"
ROLLBACK_ACTION = "home_rollback"
UNDEPLOY_ACTION = "home_undeploy"
CALLBACK_ID = "tunebot_home"

MAX_BLOCKS = 100
SECTION_CHARS = 3000
MAX_DEPLOYMENTS = 20  # with a button each; the rest are counted
MAX_HELD_BACK = 10

Label = Callable[[str], str]  # provider name -> what people call it


def build_home_view(data: HomeData, *, label: Label, note: str | None = None) -> dict[str, Any]:
    """The `home` view for one person; `note` says how their last click went."""
    blocks: list[dict[str, Any]] = [_header("tunebot")]
    if note:
        blocks.append(_context(note))
    blocks.append(_section(_models_text(data.models, label)))
    blocks.append(
        _section(
            "*Asking*\nMention @tunebot in a channel, or write to it in its Messages tab. "
            "It answers in a thread, and remembers the thread."
        )
    )
    blocks.append(
        _section(
            "*Rating answers*\nUnder each answer are 👍 and 👎: one click rates it, a second "
            "click changes your rating. After a 👎 you can suggest a better answer. Admins "
            "train the next model on what people rated."
        )
    )
    if data.is_admin:
        blocks += [{"type": "divider"}, _header("Dashboard"), *_dashboard(data, label)]
    assert len(blocks) <= MAX_BLOCKS, "the dashboard's lists are capped below Slack's limit"
    return {"type": "home", "callback_id": CALLBACK_ID, "blocks": blocks}


def _models_text(models: list[tuple[str | None, ModelRef]], label: Label) -> str:
    lines = []
    for channel, ref in models:
        where = f"<#{channel}>" if channel else "Every channel without its own model"
        lines.append(f"• {where}: `{ref.model}` at {label(ref.provider)}")
    return _lines("*Which model answers where*", lines)


def _dashboard(data: HomeData, label: Label) -> list[dict[str, Any]]:
    blocks = [_section(_jobs_text(data.jobs, data.more_jobs, label))]
    for job in data.held_back[:MAX_HELD_BACK]:
        blocks.append(
            _section(
                f"*{job.label}* was held back by its evaluation: the current model keeps "
                "answering.",
                accessory=_button(
                    "Promote",
                    PROMOTE_ACTION,
                    job.label,
                    confirm=f"Make {job.label}'s model answer everywhere, despite its evaluation?",
                    style="primary",
                ),
            )
        )
    evaluation = data.last_evaluation
    if evaluation is not None:
        verdict = {"live": "went live", "held_back": "was held back"}.get(
            evaluation.verdict or "", "on demand"
        )
        blocks.append(
            _section(
                f"*Last evaluation* ({evaluation.job}, {verdict})\n`{evaluation.candidate}`: "
                f"{evaluation.scores or 'no scores'}"
            )
        )
    if data.feedback is not None:
        f = data.feedback
        blocks.append(
            _section(
                f"*Feedback, last {f.days} days*\n👍 {f.positive} · 👎 {f.negative} · "
                f"{f.corrections} better answers suggested · `/finetune feedback` for more"
            )
        )
    if data.spend is not None:
        blocks.append(_section(_spend_text(data.spend)))
    blocks += _deployments(data.deployments, label)
    if data.rollback_to is not None:
        target = data.rollback_to
        blocks.append(
            _section(
                f"*Rollback*\nThe model before the current one: `{target.model}` at "
                f"{label(target.provider)}.",
                accessory=_button(
                    "Roll back",
                    ROLLBACK_ACTION,
                    json.dumps({"provider": target.provider, "model": target.model}),
                    confirm=f"Switch tunebot back to {target.model} everywhere?",
                ),
            )
        )
    return blocks


def _jobs_text(jobs: list[JobLine], more: int, label: Label) -> str:
    lines = []
    for job in jobs:
        state = job.stage.replace("_", " ")
        if job.progress is not None:
            p = job.progress
            state += f", step {p.step} of {p.total} ({p.percent}%)"
        lines.append(
            f"• *{job.label}* `{job.base_model}` at {label(job.provider)}: {state} "
            f"(by <@{job.started_by}>)"
        )
    if not lines:
        lines.append("No job is running. `/finetune train <dataset>` starts one.")
    if more:
        lines.append(f"…and {more} more: `/finetune jobs` lists them.")
    return _lines("*Jobs*", lines)


def _spend_text(spend: Spend) -> str:
    deployments = f"${spend.deployments_daily_usd:,.2f} a day now"
    if spend.unpriced_deployments:
        deployments += f" (+{spend.unpriced_deployments} at an unknown price)"
    if spend.deployments_month_usd:
        deployments += f", {usd(spend.deployments_month_usd)} so far this month"
    if spend.tokens_usd is None:
        tokens = "not priced"
    else:
        tokens = usd(spend.tokens_usd)
        if spend.unpriced_tokens:
            tokens += f" (+{spend.unpriced_tokens:,} tokens at an unknown price)"
    lines = [
        f"• Training: ${spend.training_usd:,.2f} estimated for {spend.training_jobs} "
        f"job{'s' if spend.training_jobs != 1 else ''} started this month",
        f"• Paid deployments: {deployments}",
        f"• Answering (tokens): {tokens}",
    ]
    if spend.budget_usd is not None:
        share = spend.total_usd / spend.budget_usd * 100
        lines.append(
            f"• Budget: {usd(spend.total_usd)} of {usd(spend.budget_usd)} ({share:.0f}%); "
            "`/finetune usage` shows where it goes"
        )
    return _lines(f"*Spend in {spend.month}*", lines)


def _deployments(paid: list[PaidDeployment], label: Label) -> list[dict[str, Any]]:
    if not paid:
        return []
    blocks = [_section("*Paid deployments*")]
    for d in paid[:MAX_DEPLOYMENTS]:
        cost = f"${d.daily_usd:,.2f} a day" if d.daily_usd is not None else "cost unknown"
        text = f"`{d.model}` at {label(d.provider)} ({d.state.lower()}), {cost}"
        if d.kept_as is not None:
            blocks.append(_section(f"{text}\nKept: it is {d.kept_as}."))
            continue
        value = json.dumps({"provider": d.provider, "model": d.model})
        confirm = f"Delete the deployment of {d.model}? It stops answering and costing."
        blocks.append(
            _section(
                text,
                accessory=_button(
                    "Undeploy", UNDEPLOY_ACTION, value, confirm=confirm, style="danger"
                ),
            )
        )
    if len(paid) > MAX_DEPLOYMENTS:
        more = len(paid) - MAX_DEPLOYMENTS
        blocks.append(_context(f"…and {more} more: `/finetune models` lists them all."))
    return blocks


def _lines(title: str, lines: list[str]) -> str:
    """A title and as many lines as fit in one section, then how many did not."""
    text = title
    for n, line in enumerate(lines):
        if len(text) + 1 + len(line) > SECTION_CHARS - 40:  # room left for the count
            return f"{text}\n…and {len(lines) - n} more."
        text += "\n" + line
    return text


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _context(text: str) -> dict[str, Any]:
    if len(text) > SECTION_CHARS:
        text = text[: SECTION_CHARS - 1] + "…"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    if len(text) > SECTION_CHARS:  # a provider's error or a model's name can be long
        text = text[: SECTION_CHARS - 1] + "…"
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def _button(
    text: str, action_id: str, value: str, *, confirm: str, style: str | None = None
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
        "confirm": {
            "title": {"type": "plain_text", "text": "Are you sure?"},
            "text": {"type": "plain_text", "text": confirm[:300]},
            "confirm": {"type": "plain_text", "text": text},
            "deny": {"type": "plain_text", "text": "Cancel"},
        },
    }
    if style is not None:
        button["style"] = style
    return button
