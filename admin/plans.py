"""A job's plan: the pipeline its admin watches in one DM message, edited in place.

dataset checked -> uploaded -> training (with progress) -> deploying -> evaluating -> live or
held back. Each version of the plan is built from the job's row in the transaction that
changed it (a stage move, a new progress step) and queued in the outbox with its version; the
version only grows along the job's life, so a sender can tell a late update from a newer one.

The tasks use Slack's four task states (pending, in_progress, complete, error), the states of
its task_update chunks and task_card blocks, so the same plan can be drawn by either.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import announce, job_stages
from admin.evaluation.gate import gate_key
from storage import eval_repo, home_repo
from storage.db import SessionFactory
from storage.models import Dataset, Evaluation, Job, JobEventRow, utcnow

log = logging.getLogger(__name__)

# Admins who opened the Home tab this recently have their dashboard refreshed by a change.
HOME_WATCHERS = timedelta(days=30)
PROGRESS_STEP = 10  # percent: the plan is edited at most once per step while training
DETAIL_CHARS = 200


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    ERROR = "error"


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    status: TaskStatus
    detail: str = ""


@dataclass(frozen=True)
class Progress:
    step: int
    total: int

    @property
    def percent(self) -> int:
        return min(100, max(0, self.step * 100 // self.total)) if self.total > 0 else 0


@dataclass(frozen=True)
class Plan:
    job_id: int
    job: str  # its label
    title: str
    tasks: tuple[Task, ...]
    version: int

    def to_payload(self) -> dict[str, Any]:
        return {"plan": asdict(self)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Plan:
        raw = dict(payload["plan"])
        tasks = tuple(
            Task(t["id"], t["title"], TaskStatus(t["status"]), t.get("detail") or "")
            for t in raw.pop("tasks")
        )
        return cls(tasks=tasks, **raw)


def version_of(stage: str, progress: Progress | None = None) -> int:
    """Grows with every move the job can make (its depth in the transition table) and, while
    training, with every PROGRESS_STEP percent."""
    depth = _depths()[job_stages.JobStage(stage)]
    bucket = progress.percent // PROGRESS_STEP * PROGRESS_STEP if progress is not None else 0
    return (depth + 1) * 1000 + bucket


@cache
def _depths() -> dict[Any, int]:
    """Each stage's longest distance from training: every legal move goes deeper."""
    stages = job_stages.JobStage
    depth = {stages.TRAINING: 0}
    for _ in stages:  # relax along the (acyclic) table until nothing grows
        for here, after in job_stages.TRANSITIONS.items():
            for there in after:
                if here in depth and depth.get(there, -1) < depth[here] + 1:
                    depth[there] = depth[here] + 1
    return depth


def progress_of(session: Session, *, job_id: int) -> Progress | None:
    """The newest step/total_steps the provider reported in the job's events."""
    rows = session.scalars(
        select(JobEventRow.data)
        .where(JobEventRow.job_id == job_id)
        .order_by(JobEventRow.created_at.desc(), JobEventRow.id.desc())
        .limit(50)
    )
    for data in rows:
        step, total = (data or {}).get("step"), (data or {}).get("total_steps")
        if isinstance(step, int) and isinstance(total, int) and total > 0:
            return Progress(step, total)
    return None


def build_plan(
    job: Job,
    *,
    dataset: Dataset | None,
    progress: Progress | None,
    evaluation: Evaluation | None,
) -> Plan:
    """The plan for the job as its row says now."""
    stage = job_stages.JobStage(job.stage)
    depth = _depths()[stage]
    failed = stage in (job_stages.JobStage.FAILED, job_stages.JobStage.CANCELLED)
    reached = {name: not failed and depth >= _depths()[s] for name, s in _MILESTONES.items()}
    examples = f": {dataset.examples} examples" if dataset is not None else ""
    name = dataset.label if dataset is not None else "The dataset"
    tasks = (
        Task("dataset", f"{name} checked{examples}", TaskStatus.COMPLETE),
        Task("upload", f"Uploaded to {job.provider}", TaskStatus.COMPLETE),
        _training(job, stage, progress),
        _deploying(job, stage, reached),
        _evaluating(job, stage, reached, evaluation),
        _outcome(job, stage),
    )
    return Plan(
        job_id=job.id,
        job=job.label,
        title=f"{job.label}: {_PHRASES[stage]}",
        tasks=tasks,
        version=version_of(stage, progress if stage == job_stages.JobStage.TRAINING else None),
    )


_PHRASES = {
    "training": "training",
    "succeeded": "trained, deploying",
    "awaiting_deployment": "trained, waiting for an admin to approve its deployment",
    "deploy_approved": "trained, deploying",
    "callable": "deployed, waiting until it answers",
    "evaluating": "evaluating",
    "live": "live",
    "held_back": "held back by its evaluation",
    "failed": "failed",
    "cancelled": "cancelled",
}
# The stage at which each later task is done (reached): deployed once evaluating can begin.
_MILESTONES = {"trained": "succeeded", "deployed": "evaluating"}


def _training(job: Job, stage: str, progress: Progress | None) -> Task:
    title = f"Training `{job.base_model}`"
    if stage == job_stages.JobStage.TRAINING:
        detail = (
            f"step {progress.step} of {progress.total} ({progress.percent}%)"
            if progress is not None
            else f"the provider says {job.status}"
        )
        return Task("training", title, TaskStatus.IN_PROGRESS, detail)
    if stage in (job_stages.JobStage.FAILED, job_stages.JobStage.CANCELLED):
        why = job.error_message or job.error_code or str(stage)
        return Task("training", title, TaskStatus.ERROR, _clip(f"{stage}: {why}"))
    return Task("training", title, TaskStatus.COMPLETE, f"trained `{job.fine_tuned_model}`")


def _deploying(job: Job, stage: str, reached: dict[str, bool]) -> Task:
    title = "Deploying"
    if reached["deployed"]:
        return Task("deploying", title, TaskStatus.COMPLETE, f"answers as `{job.callable_model}`")
    if stage == job_stages.JobStage.AWAITING_DEPLOYMENT:
        detail = f"waiting for an admin: `/finetune deploy {job.label}` approves its cost"
        return Task("deploying", title, TaskStatus.IN_PROGRESS, detail)
    if reached["trained"]:
        return Task("deploying", title, TaskStatus.IN_PROGRESS, "until the new model answers")
    return Task("deploying", title, TaskStatus.PENDING)


def _evaluating(
    job: Job, stage: str, reached: dict[str, bool], evaluation: Evaluation | None
) -> Task:
    title = "Evaluating beside the current model"
    if stage == job_stages.JobStage.EVALUATING:
        held_out = f"on {evaluation.examples} held-out examples" if evaluation else "starting"
        return Task("evaluating", title, TaskStatus.IN_PROGRESS, held_out)
    if stage in (job_stages.JobStage.LIVE, job_stages.JobStage.HELD_BACK):
        scores = score_line((evaluation.report or {}) if evaluation is not None else {})
        return Task("evaluating", title, TaskStatus.COMPLETE, scores or "not evaluated")
    return Task("evaluating", title, TaskStatus.PENDING)


def score_line(report: dict[str, Any]) -> str:
    """An evaluation report in one line ("" when there is none)."""
    if "candidate" in report:
        c, k = report["candidate"]["score"], report["current"]["score"]
        return (
            f"chrF {c:.1f} vs {k:.1f} for the current model on {report['examples']} examples "
            f"({report['wins']} better, {report['ties']} tied, {report['losses']} worse)"
        )
    if report.get("error"):
        return _clip(f"could not finish: {report['error']}")
    return ""


def _outcome(job: Job, stage: str) -> Task:
    if stage == job_stages.JobStage.LIVE:
        return Task(
            "outcome", "Live", TaskStatus.COMPLETE, f"tunebot answers with `{job.callable_model}`"
        )
    if stage == job_stages.JobStage.HELD_BACK:
        detail = f"the current model keeps answering; `/finetune promote {job.label}` overrides"
        return Task("outcome", "Held back", TaskStatus.ERROR, detail)
    if stage in (job_stages.JobStage.FAILED, job_stages.JobStage.CANCELLED):
        unchanged = "the model tunebot answers with did not change"
        return Task("outcome", "Not live", TaskStatus.ERROR, unchanged)
    return Task("outcome", "Live, or held back by the evaluation", TaskStatus.PENDING)


def _clip(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def queue(session: Session, job: Job) -> None:
    """In the transaction that changed `job`: its plan's new version for the admin who started
    it, and a refresh of the dashboards of the admins watching the Home tab."""
    evaluation = eval_repo.find(session, key=gate_key(job.id))
    plan = build_plan(
        job,
        dataset=session.get(Dataset, job.dataset_id) if job.dataset_id else None,
        progress=progress_of(session, job_id=job.id),
        evaluation=evaluation,
    )
    announce.job_plan(session, job, plan.to_payload(), version=plan.version)
    watchers = home_repo.admins(session, since=utcnow() - HOME_WATCHERS)
    announce.refresh_home(session, watchers, reason=f"{job.label}:{plan.version}")


def note_progress(session_factory: SessionFactory, *, job_id: int) -> None:
    """After a tick read a training job: queue its plan if training went a step further (the
    version names the step, so a repeat is a no-op)."""
    with session_factory.begin() as session:
        job = session.get(Job, job_id)
        if job is not None and job.stage == job_stages.JobStage.TRAINING:
            queue(session, job)
