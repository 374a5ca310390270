"""The gate before a job goes live: callable -> evaluating -> live | held_back, each step once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from admin.evaluation import run as runner
from admin.evaluation.config import EvalDeps, ModelPair
from admin.evaluation.heldout import load_examples
from admin.notices import held_back_notice
from admin.training import HOW_TO_HOLD_OUT
from storage import eval_repo, job_repo, outbox, repo
from storage.models import Dataset, Evaluation, Job

log = logging.getLogger(__name__)


class Stage(StrEnum):
    CALLABLE = "callable"
    EVALUATING = "evaluating"
    LIVE = "live"
    HELD_BACK = "held_back"


@dataclass(frozen=True)
class GateOutcome:
    """What the poller does next: swap (`live`), wait (`evaluating`), or nothing (held back)."""

    stage: Stage
    report: dict[str, Any] | None = None
    note: str | None = None  # why a job that goes live was not evaluated


def gate_key(job_id: int) -> str:
    return f"gate:{job_id}"


def gate(
    deps: EvalDeps | None,
    *,
    job_id: int,
    clock: Callable[[], datetime],
    notify_channel: str | None,
) -> GateOutcome:
    """Evaluate a callable job's model (or resume its evaluation) and decide; safe to call from
    several schedulers and again after a crash."""
    if deps is None or not deps.config.enabled:
        return GateOutcome(Stage.LIVE)
    with deps.session_factory() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.callable_model
        row = eval_repo.find(session, key=gate_key(job_id))
        heldout = _heldout(deps, session, job) if row is None else None
    if row is None:
        if isinstance(heldout, str):
            return GateOutcome(Stage.LIVE, note=heldout)
        assert isinstance(heldout, Dataset)
        row_id = _start(deps, job, heldout)
        if row_id is None:
            return GateOutcome(Stage.EVALUATING)  # another scheduler claimed it
    elif row.status == eval_repo.DONE:
        return GateOutcome(Stage(row.verdict or Stage.HELD_BACK), row.report)
    else:
        row_id = row.id
    result = runner.run(deps, row_id, clock=clock)
    if result.busy:
        return GateOutcome(Stage.EVALUATING)
    if result.report is None:
        if result.failures < deps.config.max_failures:
            return GateOutcome(Stage.EVALUATING)  # retried on the next tick
        report = {"error": result.error, "failures": result.failures}
        return _decide(deps, row_id, job_id, report, Stage.HELD_BACK, clock, notify_channel)
    verdict = Stage.LIVE if result.report["passed"] else Stage.HELD_BACK
    return _decide(deps, row_id, job_id, result.report, verdict, clock, notify_channel, result)


def _heldout(deps: EvalDeps, session: Any, job: Job) -> Dataset | str:
    """The job's held-out dataset, or the note that says why it cannot be evaluated."""
    if job.validation_dataset_id is None:
        return f"Not evaluated: {job.label} had no held-out data. {HOW_TO_HOLD_OUT}"
    dataset = repo.get_dataset(session, dataset_id=job.validation_dataset_id)
    if dataset is None or deps.store is None or not deps.store.has(dataset.sha256):
        label = dataset.label if dataset is not None else f"ds-{job.validation_dataset_id}"
        return (
            f"Not evaluated: the held-out data ({label}) is not in tunebot's dataset store; "
            f"send the file again to keep a copy. {HOW_TO_HOLD_OUT}"
        )
    if not load_examples(deps.store.path(dataset.sha256), limit=1):
        return (
            f"Not evaluated: the held-out data ({dataset.label}) has no example with an "
            "assistant answer to compare with."
        )
    return dataset


def _start(deps: EvalDeps, job: Job, dataset: Dataset) -> int | None:
    current = deps.current_model()
    assert job.callable_model is not None
    with deps.session_factory.begin() as session:
        # The guarded stage change is the claim: one scheduler creates the evaluation.
        if not job_repo.advance_stage(
            session, job_id=job.id, from_stages=[Stage.CALLABLE], to_stage=Stage.EVALUATING
        ):
            return None
        row = eval_repo.create_evaluation(
            session, values=_values(deps, gate_key(job.id), job, dataset, current)
        )
        assert row is not None
        return row.id


def _values(
    deps: EvalDeps, key: str, job: Job, dataset: Dataset, current: ModelPair
) -> dict[str, Any]:
    return {
        "key": key,
        "job_id": job.id,
        "dataset_id": dataset.id,
        "candidate_provider": job.provider,
        "candidate_model": job.callable_model,
        "current_provider": current[0],
        "current_model": current[1],
        "examples": deps.config.max_examples,
    }


def _decide(
    deps: EvalDeps,
    row_id: int,
    job_id: int,
    report: dict[str, Any],
    verdict: Stage,
    clock: Callable[[], datetime],
    notify_channel: str | None,
    result: runner.RunResult | None = None,
) -> GateOutcome:
    now = clock()
    with deps.session_factory.begin() as session:
        row = session.get(Evaluation, row_id)
        assert row is not None
        report = finalise(report, row, now, result.seconds if result else 0.0)
        if not eval_repo.finish(
            session,
            evaluation_id=row_id,
            verdict=verdict,
            report=report,
            seconds=result.seconds if result else 0.0,
            now=now,
        ):
            return GateOutcome(Stage.EVALUATING)  # another runner recorded it; read next tick
        if verdict == Stage.HELD_BACK:
            # Held back, its record and its announcement commit together or not at all.
            job_repo.advance_stage(
                session, job_id=job_id, from_stages=[Stage.EVALUATING], to_stage=Stage.HELD_BACK
            )
            job = session.get(Job, job_id, populate_existing=True)
            assert job is not None
            deployed = deps.bills_while_deployed(job.provider)
            for channel, payload in held_back_notice(
                job, report, notify_channel, deployed=deployed
            ):
                outbox.enqueue(
                    session,
                    dedupe_key=f"{job.label}:held_back:{channel}",
                    kind="job_held_back",
                    channel=channel,
                    payload=payload,
                )
    log.info("job %s: evaluation %s decided %s", job_id, row_id, verdict)
    return GateOutcome(verdict, report)


def finalise(
    report: dict[str, Any], row: Evaluation, now: datetime, seconds: float
) -> dict[str, Any]:
    """Add the time taken: answering (every run together) and from start to verdict."""
    took = dict(report.get("seconds") or {})
    took["answering"] = round((row.busy_seconds or 0.0) + seconds, 3)
    took["elapsed"] = round((now - row.created_at).total_seconds(), 3)
    return {**report, "seconds": took}
