"""Slack text and Block Kit for jobs and models: lists, one job, events, the cost confirmation."""

from __future__ import annotations

from datetime import date
from typing import Any

from admin.lifecycle import ModelLine
from admin.notices import model_names
from admin.providers.base import Checkpoint, JobSnapshot
from admin.providers.registry import Providers
from admin.training import TrainPlan
from storage.models import Job, JobEventRow
from storage.repo import ChannelModel, ModelRef

CONFIRM_ACTION = "train_confirm"
CANCEL_ACTION = "train_cancel"


def _when(moment: Any) -> str:
    if moment is None:
        return "?"
    return f"<!date^{int(moment.timestamp())}^{{date_short}} {{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


def build_job_list(jobs: list[Job]) -> str:
    if not jobs:
        return "No fine-tuning jobs yet. Start one with `/finetune train ds-N`."
    lines = ["*Fine-tuning jobs* (newest first)"]
    for job in jobs:
        model = f" → {model_names(job)}" if job.fine_tuned_model else ""
        lines.append(
            f"• *{job.label}* `{job.provider_job_id}` {job.status} ({job.stage}) on "
            f"`{job.base_model}` from ds-{job.dataset_id}{model}, by <@{job.started_by}> "
            f"{_when(job.created_at)}"
        )
    return "\n".join(lines)


def build_job_status(job: Job, snap: JobSnapshot | None) -> str:
    lines = [f"*{job.label}* (`{job.provider_job_id}` at {job.provider})"]
    status = snap.status if snap else job.status
    lines.append(f"• status: *{status}*, tunebot stage: {job.stage}")
    lines.append(f"• base model `{job.base_model}`, {job.method}, dataset ds-{job.dataset_id}")
    if job.hyperparameters:
        lines.append("• " + ", ".join(f"{k}={v}" for k, v in job.hyperparameters.items()))
    if job.estimated_cost_usd is not None:
        lines.append(f"• estimated cost ${job.estimated_cost_usd:.2f}")
    tokens = (snap.trained_tokens if snap else None) or job.trained_tokens
    if tokens:
        lines.append(f"• trained tokens {tokens:,}")
    if snap and snap.estimated_finish and snap.phase == "active":
        lines.append(f"• expected to finish {_when(snap.estimated_finish)}")
    if job.fine_tuned_model:
        lines.append(f"• model {model_names(job)}")
    if job.error_code or job.error_message:
        lines.append(f"• error `{job.error_code}`: {job.error_message}")
    lines.append(f"• started by <@{job.started_by}> {_when(job.created_at)}")
    return "\n".join(lines)


def build_events(job: Job, events: list[JobEventRow]) -> str:
    if not events:
        return f"No events stored for {job.label} yet (they arrive with each poll)."
    lines = [f"*{job.label}* latest events"]
    lines += [f"• {_when(e.created_at)} [{e.level}] {e.message}" for e in events]
    return "\n".join(lines)


def build_checkpoints(job: Job, checkpoints: list[Checkpoint]) -> str:
    if not checkpoints:
        return f"{job.label} has no checkpoints (yet)."
    lines = [f"*{job.label}* checkpoints"]
    for point in checkpoints:
        loss = point.metrics.get("train_loss")
        shown = f", train loss {loss:.4f}" if isinstance(loss, int | float) else ""
        lines.append(f"• step {point.step}: `{point.model or point.id}`{shown}")
    return "\n".join(lines)


def build_model_list(lines_: list[ModelLine], providers: Providers) -> str:
    lines = ["*Models* (newest first; ★ answers now)"]
    for line in lines_:
        star = "★ " if line.active else "• "
        where = providers.label(line.ref.provider)
        off = "" if line.ref.provider in providers else " (not configured)"
        shutdown = f", stops answering on *{line.shutdown.isoformat()}*" if line.shutdown else ""
        name = f"`{line.model}`"
        if line.trained and line.trained != line.model:
            name = f"`{line.trained}` (served as `{line.model}`)"
        answers = ""
        if line.answers_in:
            places = ["the workspace" if c is None else f"<#{c}>" for c in line.answers_in]
            answers = f" · answers in {', '.join(places)}"
        lines.append(f"{star}{name} at {where}{off}{answers}: {line.since}, {line.by}{shutdown}")
        if line.advice:
            lines.append(f"    ↳ {line.advice}")
    return "\n".join(lines)


def build_channel_list(
    workspace: ModelRef,
    own: list[ChannelModel],
    prompts: dict[str, str],
    providers: Providers,
) -> str:
    """`/finetune channels`: the workspace's model, then each channel with its own model or
    prompt."""
    lines = [
        "*Models and prompts per channel*",
        f"• *Every channel without its own*: `{workspace.model}` at "
        f"{providers.label(workspace.provider)}, prompt from TUNEBOT_SYSTEM_PROMPT",
    ]
    models = {c.channel: c for c in own}
    for channel in sorted(set(models) | set(prompts)):
        found = models.get(channel)
        model = (
            f"`{found.ref.model}` at {providers.label(found.ref.provider)} "
            f"(since {found.since:%Y-%m-%d %H:%M} UTC)"
            if found is not None
            else "the workspace's model"
        )
        prompt = prompts.get(channel)
        shown = f"its own prompt: “{_short(prompt)}”" if prompt else "the workspace's prompt"
        lines.append(f"• <#{channel}>: {model}; {shown}")
    if len(lines) == 2:
        lines.append(
            "No channel has its own model or prompt: `/finetune use <model> channel=#c` and "
            '`/finetune prompt channel=#c "..."` give it one.'
        )
    return "\n".join(lines)


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def build_provider_list(providers: Providers, today: date) -> str:
    lines = ["*Fine-tuning providers* (`provider=<name>` in `/finetune train`)"]
    for provider in providers:
        default = " · default for new jobs" if provider.name == providers.default else ""
        base = " · serves the base model" if provider.name == providers.base else ""
        refusal = provider.new_jobs_refusal(today)
        notice = provider.new_jobs_notice(today)
        if refusal:
            jobs = f"takes no new jobs ({refusal})"
        else:
            jobs = "takes new jobs" + (f" ({notice})" if notice else "")
        supports = ", ".join(sorted(str(c) for c in provider.capabilities)) or "training only"
        lines.append(f"• *{provider.label}* (`{provider.name}`){default}{base}")
        lines.append(f"    {jobs}; chat at `{provider.endpoint.host}`; supports {supports}")
        if provider.serving_cost:
            lines.append(f"    serving: {provider.serving_cost}")
        lines.append(f"    tokens: {provider.token_counting}")
    off = [name for name in providers.registry if name not in providers]
    if off:
        registry = providers.registry
        how = "; ".join(f"{registry[name].label}: {registry.needs(name)}" for name in off)
        lines.append(f"_Not configured_ (set to turn on): {how}")
    return "\n".join(lines)


def build_confirmation(
    plan: TrainPlan, command_text: str, threshold: float
) -> list[dict[str, Any]]:
    text = (
        f"Training ds-{plan.dataset_id} on `{plan.request.model}` would cost "
        f"{plan.estimate.describe()}, above the ${threshold:g} that needs a confirmation. "
        f"{plan.held_out}"
    )
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": CONFIRM_ACTION,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Start"},
                    "value": command_text[:2000],
                },
                {
                    "type": "button",
                    "action_id": CANCEL_ACTION,
                    "text": {"type": "plain_text", "text": "Cancel"},
                    "value": "cancel",
                },
            ],
        },
    ]
