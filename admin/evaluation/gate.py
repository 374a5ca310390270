"""The eval gate's decisions: which held-out data a job is judged on, its evaluation started
once, resumed after a crash, and its verdict recorded once.

The job's stages, and what people are told, belong to admin.job_stages; this module only says
what the comparison found, inside the transaction that moves the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from admin.evaluation import run as runner
from admin.evaluation.config import EvalDeps, ModelPair
from admin.evaluation.heldout import HOW_TO_HOLD_OUT, load_examples
from storage import eval_repo, repo
from storage.models import Dataset, Evaluation, Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """What the comparison found; `passed`: the candidate scored well enough to go live."""

    evaluation_id: int
    passed: bool
    report: dict[str, Any]
    seconds: float = 0.0


def gate_key(job_id: int) -> str:
    return f"gate:{job_id}"


def held_out_for(deps: EvalDeps | None, session: Session, job: Job) -> Dataset | str | None:
    """The job's held-out dataset; a note saying why it goes live unevaluated; or None when
    the gate is off (TUNEBOT_EVAL=off)."""
    if deps is None or not deps.config.enabled:
        return None
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


def start(deps: EvalDeps, session: Session, job: Job, dataset: Dataset) -> int:
    """Create the job's evaluation, in the transaction whose guarded move claimed it."""
    assert job.callable_model is not None
    current = deps.current_model(job.for_channel)
    row = eval_repo.create_evaluation(
        session, values=_values(deps, gate_key(job.id), job, dataset, current)
    )
    assert row is not None
    return row.id


def resume(deps: EvalDeps, *, job_id: int, clock: Callable[[], datetime]) -> Decision | None:
    """Carry the job's evaluation on; its decision once every answer is in (or it failed too
    often), None while it runs elsewhere or will be retried on the next tick."""
    with deps.session_factory() as session:
        row = eval_repo.find(session, key=gate_key(job_id))
        if row is None:
            return None  # the move to evaluating has not committed yet
        row_id = row.id
        if row.status == eval_repo.DONE:
            return _stored(row)
    result = runner.run(deps, row_id, clock=clock)
    if result.busy:
        return None
    if result.report is None:
        if result.failures < deps.config.max_failures:
            return None
        failed = {"error": result.error, "failures": result.failures}
        return Decision(row_id, False, failed)
    return Decision(row_id, bool(result.report["passed"]), result.report, result.seconds)


def record(
    deps: EvalDeps,
    session: Session,
    decision: Decision,
    *,
    verdict: str,
    now: datetime,
) -> Decision:
    """Store the decision, with its timings and the stage it sends the job to (`verdict`),
    unless one is stored already; returns the stored one. The caller's guarded move of the job,
    in the same transaction, makes what follows happen once (a decision stored before a crash
    is carried out by the next tick)."""
    row = session.get(Evaluation, decision.evaluation_id, populate_existing=True)
    assert row is not None
    report = finalise(decision.report, row, now, decision.seconds)
    if row.status == eval_repo.DONE or not eval_repo.finish(
        session,
        evaluation_id=decision.evaluation_id,
        verdict=verdict,
        report=report,
        seconds=decision.seconds,
        now=now,
    ):
        session.refresh(row)
        return _stored(row)
    log.info("evaluation %s decided %s", decision.evaluation_id, verdict)
    return Decision(row.id, decision.passed, report, decision.seconds)


def _stored(row: Evaluation) -> Decision:
    report = dict(row.report or {})
    return Decision(row.id, bool(report.get("passed")), report, row.busy_seconds or 0.0)


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


def finalise(
    report: dict[str, Any], row: Evaluation, now: datetime, seconds: float
) -> dict[str, Any]:
    """Add the time taken: answering (every run together) and from start to verdict."""
    took = dict(report.get("seconds") or {})
    took["answering"] = round((row.busy_seconds or 0.0) + seconds, 3)
    took["elapsed"] = round((now - row.created_at).total_seconds(), 3)
    return {**report, "seconds": took}
