"""What the team is told about a job: the text, chart data and blocks of each message.

Builders only; admin.announce queues them, in the transaction of the move they are about."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from admin.announce import Payload
from admin.evaluation.report import headline, report_blocks
from admin.providers.base import MetricPoint
from storage.models import Job

_ADVICE = {
    "invalid_training_file": "Check the data with `tunebot dataset validate FILE` and upload it "
    "again.",
    "invalid_file_format": "Check the data with `tunebot dataset validate FILE` and upload it "
    "again.",
    "insufficient_quota": "Check the billing and usage limits of the provider account.",
    "billing_hard_limit_reached": "Check the billing and usage limits of the provider account.",
    "rate_limit_exceeded": "Wait a while and start the job again.",
}


def model_names(job: Job) -> str:
    """The trained model as its provider lists it, and where it answers when that differs
    (Together serves a fine-tune from an endpoint tunebot created)."""
    trained = job.fine_tuned_model or job.callable_model
    if trained is None:
        return "no model yet"
    if job.callable_model and job.callable_model != trained:
        return f"`{trained}` (served as `{job.callable_model}`)"
    return f"`{trained}`"


def live_notice(
    job: Job,
    points: list[MetricPoint],
    *,
    evaluation: dict[str, Any] | None = None,
    not_evaluated: str | None = None,
) -> Payload:
    """`evaluation`: the gate's report (scores in the text and as Block Kit); `not_evaluated`:
    why there was none, said in the announcement."""
    last = points[-1] if points else None
    losses = "no loss figures reported"
    if last is not None:
        losses = f"final training loss {last.train_loss:.4f}"
        if last.valid_loss is not None:
            losses += f" · validation loss {last.valid_loss:.4f}"
    lines = [
        f":tada: *A new model is live*: {model_names(job)}",
        f"• from {job.label} (`{job.provider_job_id}`) on `{job.base_model}`, "
        f"started by <@{job.started_by}>",
        f"• training took {_duration(job.created_at, job.finished_at)}"
        f" · trained tokens: {_count(job.trained_tokens)}",
        f"• {losses}",
    ]
    if evaluation is not None:
        lines.append(f"• {headline(evaluation)}")
    elif not_evaluated:
        lines.append(f"• {not_evaluated}")
    if job.for_channel:
        lines.append(
            f"tunebot answers with it in <#{job.for_channel}> from now on; other channels keep "
            f"theirs. `/finetune rollback channel=<#{job.for_channel}>` returns to the previous "
            "model there."
        )
    else:
        lines.append(
            "tunebot answers with it from now on. `/finetune rollback` returns to the previous "
            "model."
        )
    chart = None
    if points:
        chart = {
            "title": f"{job.label} loss",
            "filename": f"{job.label}-loss.png",
            "points": [[p.step, p.train_loss, p.valid_loss] for p in points],
        }
    payload: Payload = {"text": "\n".join(lines), "chart": chart}
    if evaluation is not None:
        payload["blocks"] = report_blocks(evaluation, intro="\n".join(lines))
    return payload


def held_back_notice(job: Job, report: dict[str, Any], *, deployed: bool = False) -> Payload:
    """The gate kept the current model: why, with the scores (or the failure) to show for it."""
    lines = [
        f":warning: *{job.label} was held back*: {model_names(job)} did not go live; the "
        f"current model keeps answering{_where(job)}.",
    ]
    if report.get("error"):
        lines.append(
            f"• The evaluation failed {report.get('failures', 0)} times: {report['error']}"
        )
    else:
        margin = report["margin"]
        rule = (
            f"it may score at most {margin:g} chrF points below the current one"
            if margin
            else "it must score at least as well as the current one"
        )
        lines.append(f"• {headline(report)}; {rule}.")
    lines.append(
        f"`/finetune eval {job.label}` shows the full report; `/finetune promote {job.label}` "
        "makes it live anyway."
    )
    if deployed:
        served = job.callable_model or job.fine_tuned_model
        lines.append(
            f"Its deployment keeps running, and billing, until `/finetune undeploy {served} "
            f"provider={job.provider}` removes it."
        )
    payload: Payload = {"text": "\n".join(lines), "chart": None}
    if not report.get("error"):
        payload["blocks"] = report_blocks(report, intro="\n".join(lines))
    return payload


def failure_notice(
    job: Job, outcome: str, error_code: str | None, error_message: str | None
) -> Payload:
    """`outcome`: the stage it ended in, failed or cancelled."""
    cancelled = outcome == "cancelled"
    verb = "was cancelled" if cancelled else "failed"
    lines = [f":x: *Fine-tuning {job.label} {verb}* (`{job.provider_job_id}`, `{job.base_model}`)"]
    if error_code or error_message:
        lines.append(f"The provider says: `{error_code or 'error'}`: {error_message or ''}")
    lines.append("The active model did not change.")
    if cancelled:
        advice = f"Start it again with `/finetune train ds-{job.dataset_id}` when you are ready."
    else:
        advice = _ADVICE.get(
            error_code or "",
            f"Read the job's events with `/finetune events {job.label}`, fix the data or the "
            "options, and start it again.",
        )
    lines.append(f"What to try: {advice}")
    return {"text": "\n".join(lines), "chart": None}


def deploy_confirm_notice(job: Job, hourly: float | None, threshold_per_day: float) -> Payload:
    cost = "an unknown price" if hourly is None else f"${hourly:.2f}/hour (${hourly * 24:.2f}/day)"
    return {
        "text": f":moneybag: *{job.label} finished training.* Serving {model_names(job)} needs "
        f"a dedicated deployment at {cost}, above the ${threshold_per_day:.2f}/day that needs "
        f"a confirmation. Deploy it with `/finetune deploy {job.label}`.",
        "chart": None,
    }


def deploy_waiting_notice(job: Job, minutes: int, reason: str) -> Payload:
    return {
        "text": f":hourglass: {job.label} finished training {minutes} minutes ago, but its "
        f"model cannot answer yet: {reason} tunebot keeps trying and swaps it in as soon as it "
        "can.",
        "chart": None,
    }


def promoted_notice(job: Job, user: str) -> Payload:
    return {
        "text": f":arrow_up: <@{user}> made {model_names(job)} ({job.label}) live{_where(job)} "
        "although its "
        "evaluation held it back. `/finetune rollback` returns to the previous model.",
        "chart": None,
    }


def _where(job: Job) -> str:
    return f" in <#{job.for_channel}>" if job.for_channel else ""


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "an unknown time"
    minutes = max(0, int((end - start).total_seconds() // 60))
    if minutes == 0:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _count(value: int | None) -> str:
    return f"{value:,}" if value is not None else "unknown"
