"""A fine-tuning job's life after `/finetune train`: the stages, the moves between them, and one
handler per stage that the scheduler runs on each tick.

    training -> succeeded -> [awaiting_deployment ->] [deploy_approved ->] callable
             -> [evaluating ->] live | held_back (-> live, by `/finetune promote`)
    training -> failed | cancelled

Every move is one guarded UPDATE from the stage its handler read (`move`), checked against
`TRANSITIONS`, so two schedulers, a crash or a restart carry a job forward exactly once; what
people are told about a move is queued in the same transaction (`admin.announce`). The
provider is asked only where a stage needs it: the job and its events while training, the
deployment while deploying, whether the model answers (backing off) until it does. A job past
training is never polled again: what later stages need from the provider's last word is kept
on the row (`provider_result`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from admin import announce, notices, plans
from admin.errors import TunebotError
from admin.evaluation import gate
from admin.providers.base import Deployments, JobSnapshot, MetricPoint, NotReady
from admin.providers.plugin import Capability, Phase, Provider
from storage import job_repo, repo
from storage.models import Job
from storage.repo import ModelRef

if TYPE_CHECKING:
    from admin.poller import PollerDeps
    from storage.db import SessionFactory

log = logging.getLogger(__name__)


class JobStage(StrEnum):
    TRAINING = "training"  # the provider trains it; read every tick
    SUCCEEDED = "succeeded"  # trained; how it will be served is decided next
    AWAITING_DEPLOYMENT = "awaiting_deployment"  # its deployment costs more than allowed
    DEPLOY_APPROVED = "deploy_approved"  # cheap enough, or approved: the deployment is made
    CALLABLE = "callable"  # it has a name chats use; checked (backing off) until it answers
    EVALUATING = "evaluating"  # answering held-out prompts beside the current model
    LIVE = "live"
    HELD_BACK = "held_back"  # the gate kept the current model; an admin may promote it
    FAILED = "failed"
    CANCELLED = "cancelled"


TRANSITIONS: Mapping[JobStage, frozenset[JobStage]] = {
    JobStage.TRAINING: frozenset({JobStage.SUCCEEDED, JobStage.FAILED, JobStage.CANCELLED}),
    JobStage.SUCCEEDED: frozenset(
        {JobStage.AWAITING_DEPLOYMENT, JobStage.DEPLOY_APPROVED, JobStage.CALLABLE}
    ),
    JobStage.AWAITING_DEPLOYMENT: frozenset({JobStage.DEPLOY_APPROVED}),  # /finetune deploy
    JobStage.DEPLOY_APPROVED: frozenset({JobStage.CALLABLE}),
    JobStage.CALLABLE: frozenset({JobStage.EVALUATING, JobStage.LIVE}),
    JobStage.EVALUATING: frozenset({JobStage.LIVE, JobStage.HELD_BACK}),
    JobStage.HELD_BACK: frozenset({JobStage.LIVE}),  # /finetune promote
    JobStage.LIVE: frozenset(),
    JobStage.FAILED: frozenset(),
    JobStage.CANCELLED: frozenset(),
}
# Stages that wait for an admin, not for the scheduler.
WAITING_FOR_ADMIN = frozenset({JobStage.AWAITING_DEPLOYMENT, JobStage.HELD_BACK})
# Stages the scheduler carries forward on each tick (a crash mid-evaluation is resumed).
OPEN = frozenset(s for s, after in TRANSITIONS.items() if after and s not in WAITING_FOR_ADMIN)

# A trained model that cannot answer this long after training ended is announced (once).
DEPLOY_PATIENCE = timedelta(minutes=10)
# Whether a new model answers is asked again after 15 s, 30 s, 1 min, ... at most every 10 min.
FIRST_RECHECK = timedelta(seconds=15)
LONGEST_RECHECK = timedelta(minutes=10)


def needs_confirmation(hourly_usd: float | None, threshold_per_day: float) -> bool:
    """True when a deployment would cost more than the threshold per day (or says nothing)."""
    return hourly_usd is None or hourly_usd * 24 > threshold_per_day


class IllegalMove(RuntimeError):
    """A move the transition table does not have: a bug, never a user's mistake."""


def move(session: Session, job: Job, to: JobStage, **values: Any) -> bool:
    """Move `job` from the stage it was read in to `to`, once: True for the one caller whose
    guarded UPDATE did it (the caller then does what the move causes, in this transaction).

    Every move updates the job's plan message and the admins' Home tabs (admin.plans), queued
    here in the move's transaction, so no stage change can forget them."""
    here = JobStage(job.stage)
    if to not in TRANSITIONS[here]:
        raise IllegalMove(f"{job.label}: no move from {here} to {to}")
    moved = job_repo.advance_stage(
        session, job_id=job.id, from_stages=[here], to_stage=to, **values
    )
    if moved:
        _keep_in_step(job, {"stage": str(to), **values})
        plans.queue(session, job)
    return moved


def _keep_in_step(job: Job, values: Mapping[str, Any]) -> None:
    """The caller's copy says what the row now says, without another UPDATE of its own."""
    for name, value in values.items():
        set_committed_value(job, name, value)


# -- the scheduler's tick, one job at a time --------------------------------------------------


@dataclass
class Step:
    """One job as the tick carries it: read once, then updated as it moves."""

    deps: PollerDeps
    job: Job  # detached from any session; `move` keeps it in step with the row
    _provider: Provider | None = None
    _snapshot: JobSnapshot | None = None
    points: list[MetricPoint] = field(default_factory=list)

    @property
    def stage(self) -> JobStage:
        return JobStage(self.job.stage)

    @property
    def provider(self) -> Provider:
        # A provider that is no longer configured raises TunebotError: the job waits, logged.
        if self._provider is None:
            self._provider = self.deps.providers.get(self.job.provider)
        return self._provider

    def now(self) -> datetime:
        return self.deps.clock()

    def begin(self) -> Any:
        return self.deps.session_factory.begin()


def advance(deps: PollerDeps, job_id: int) -> JobStage:
    """Carry one job as far as it can go now; returns its stage afterwards."""
    with deps.session_factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
    step = Step(deps, job)
    while (handler := HANDLERS.get(step.stage)) is not None and handler(step):
        pass
    return step.stage


def on_training(step: Step) -> bool:
    """Read the job and its new events; a success, failure or cancellation moves it on."""
    job, provider = step.job, step.provider
    snap = provider.get_job(job.provider_job_id)
    _store_events(step, provider)
    values = {"status": snap.status, "trained_tokens": snap.trained_tokens, "polled_at": step.now()}
    with step.begin() as session:
        job_repo.update_job(session, job_id=job.id, values=values)
    _keep_in_step(job, values)
    if snap.phase in (Phase.FAILED, Phase.CANCELLED):
        to = JobStage.FAILED if snap.phase == Phase.FAILED else JobStage.CANCELLED
        with step.begin() as session:
            if move(
                session,
                job,
                to,
                error_code=snap.error_code,
                error_message=(snap.error_message or "")[:2000] or None,
                finished_at=snap.finished_at or step.now(),
            ):
                payload = notices.failure_notice(job, to, snap.error_code, snap.error_message)
                kind = (
                    announce.Kind.JOB_FAILED
                    if to == JobStage.FAILED
                    else announce.Kind.JOB_CANCELLED
                )
                announce.about_job(
                    session, job, kind, payload, notify_channel=step.deps.notify_channel
                )
        return False
    if snap.phase != Phase.SUCCEEDED:
        return False
    # The loss per step is read once, now; the announcement and its chart use what is kept.
    points = provider.metrics(snap)
    with step.begin() as session:
        moved = move(
            session,
            job,
            JobStage.SUCCEEDED,
            fine_tuned_model=snap.fine_tuned_model,
            finished_at=snap.finished_at or step.now(),
            provider_result=_kept(snap, points),
        )
    step._snapshot = snap
    return moved


def on_succeeded(step: Step) -> bool:
    """Decide how it is served: a deployment above the cost threshold waits for an admin."""
    provider, threshold = step.provider, step.deps.confirm_above_usd
    if threshold is None or not isinstance(provider, Deployments):
        return _deploy(step)
    hourly = provider.deployment_quote(_snapshot(step))
    if not needs_confirmation(hourly, threshold):
        with step.begin() as session:
            return move(session, step.job, JobStage.DEPLOY_APPROVED)
    with step.begin() as session:
        if move(session, step.job, JobStage.AWAITING_DEPLOYMENT):
            announce.about_job(
                session,
                step.job,
                announce.Kind.DEPLOY_CONFIRM,
                notices.deploy_confirm_notice(step.job, hourly, threshold),
                notify_channel=step.deps.notify_channel,
            )
    log.info("%s waits for an admin to approve its deployment", step.job.label)
    return False


def on_deploy_approved(step: Step) -> bool:
    return _deploy(step)


def _deploy(step: Step) -> bool:
    """Make (or look at) the deployment; once the provider names the model chats use, move on."""
    try:
        callable_model = step.provider.make_callable(_snapshot(step))
    except NotReady as waiting:
        log.info("%s: %s", step.job.label, waiting)
        _say_if_waiting_long(step, str(waiting))
        return False
    with step.begin() as session:
        return move(session, step.job, JobStage.CALLABLE, callable_model=callable_model)


def on_callable(step: Step) -> bool:
    """Ask whether the new model answers (a new model can 404 for minutes), backing off, and
    once it does, start its evaluation or make it live."""
    job, now = step.job, step.now()
    if job.next_ready_check is not None and now < job.next_ready_check:
        return False  # asked recently: a one-token chat is billed, so not on every tick
    assert job.callable_model is not None
    if not step.provider.is_answering(job.callable_model):
        checks = (job.ready_checks or 0) + 1
        wait = min(LONGEST_RECHECK, FIRST_RECHECK * 2 ** (checks - 1))
        values = {"ready_checks": checks, "next_ready_check": now + wait}
        with step.begin() as session:
            job_repo.update_job(session, job_id=job.id, values=values)
        _keep_in_step(job, values)
        log.info(
            "%s: %s does not answer yet; asking again in %s", job.label, job.callable_model, wait
        )
        _say_if_waiting_long(step, f"`{job.callable_model}` does not answer yet.")
        return False
    evaluation = step.deps.evaluation
    with step.begin() as session:
        held_out = gate.held_out_for(evaluation, session, job)
        if held_out is None or isinstance(held_out, str):
            return _go_live(session, step, note=held_out)
        assert evaluation is not None
        if not move(session, job, JobStage.EVALUATING):
            return False  # another scheduler started it
        gate.start(evaluation, session, job, held_out)
    return True


def on_evaluating(step: Step) -> bool:
    """Carry the evaluation on; its verdict makes the model live or holds it back."""
    evaluation = step.deps.evaluation
    if evaluation is None:  # the gate was turned off while this one was running
        with step.begin() as session:
            return _go_live(session, step)
    decision = gate.resume(evaluation, job_id=step.job.id, clock=step.deps.clock)
    if decision is None:
        return False  # still answering, here or in another scheduler; or retried next tick
    with step.begin() as session:
        verdict = JobStage.LIVE if decision.passed else JobStage.HELD_BACK
        decision = gate.record(evaluation, session, decision, verdict=verdict, now=step.now())
        report = decision.report
        if decision.passed:
            return _go_live(session, step, report=report)
        if move(session, step.job, JobStage.HELD_BACK):
            deployed = evaluation.bills_while_deployed(step.job.provider)
            announce.about_job(
                session,
                step.job,
                announce.Kind.JOB_HELD_BACK,
                notices.held_back_notice(step.job, report, deployed=deployed),
                notify_channel=step.deps.notify_channel,
            )
    log.info("%s was held back by its evaluation", step.job.label)
    return False


HANDLERS: Mapping[JobStage, Callable[[Step], bool]] = {
    JobStage.TRAINING: on_training,
    JobStage.SUCCEEDED: on_succeeded,
    JobStage.DEPLOY_APPROVED: on_deploy_approved,
    JobStage.CALLABLE: on_callable,
    JobStage.EVALUATING: on_evaluating,
}
assert set(HANDLERS) == OPEN, "every stage the scheduler carries has its one handler"


def _go_live(
    session: Session,
    step: Step,
    *,
    report: dict[str, Any] | None = None,
    note: str | None = None,
) -> bool:
    """The swap, its history row and the announcement commit together or not at all."""
    job = step.job
    if not move(session, job, JobStage.LIVE):
        return False  # another scheduler carried it through
    assert job.callable_model is not None
    model = ModelRef(job.provider, job.callable_model)
    repo.set_active_model(
        session, model=model, reason="job", set_by_job=job.label, channel=job.for_channel
    )
    payload = notices.live_notice(job, _points(job), evaluation=report, not_evaluated=note)
    announce.about_job(
        session, job, announce.Kind.JOB_LIVE, payload, notify_channel=step.deps.notify_channel
    )
    log.info("%s is live as %s", job.label, model)
    return False


# -- what the provider said when training ended -----------------------------------------------


def _kept(snap: JobSnapshot, points: list[MetricPoint]) -> dict[str, Any]:
    """What later stages need from the provider's last word, so they need not ask again."""
    return {
        "result_files": list(snap.result_files),
        "hyperparameters": dict(snap.hyperparameters),
        "points": [[p.step, p.train_loss, p.valid_loss] for p in points],
    }


def _snapshot(step: Step) -> JobSnapshot:
    """The finished job as the provider reported it, rebuilt from the row."""
    if step._snapshot is not None:
        return step._snapshot
    job = step.job
    if job.provider_result is None:
        # A job that finished training before tunebot kept the provider's last word: ask
        # once, and keep it.
        snap = step.provider.get_job(job.provider_job_id)
        kept = _kept(snap, step.provider.metrics(snap))
        with step.begin() as session:
            job_repo.update_job(session, job_id=job.id, values={"provider_result": kept})
        _keep_in_step(job, {"provider_result": kept})
    kept = job.provider_result or {}
    step._snapshot = JobSnapshot(
        id=job.provider_job_id,
        status=job.status,
        model=job.base_model,
        fine_tuned_model=job.fine_tuned_model,
        finished_at=job.finished_at,
        trained_tokens=job.trained_tokens,
        result_files=tuple(kept.get("result_files") or ()),
        hyperparameters=dict(kept.get("hyperparameters") or {}),
        phase=Phase.SUCCEEDED,
    )
    return step._snapshot


def _points(job: Job) -> list[MetricPoint]:
    rows = (job.provider_result or {}).get("points") or []
    return [MetricPoint(int(s), float(t), None if v is None else float(v)) for s, t, v in rows]


def _say_if_waiting_long(step: Step, reason: str) -> None:
    """A trained model still not answering DEPLOY_PATIENCE after training ended: say so once."""
    job = step.job
    since = job.finished_at or job.polled_at
    if since is None or step.now() - since < DEPLOY_PATIENCE:
        return
    minutes = int((step.now() - since).total_seconds() // 60)
    with step.begin() as session:
        announce.about_job(
            session,
            job,
            announce.Kind.DEPLOY_WAITING,
            notices.deploy_waiting_notice(job, minutes, reason),
            notify_channel=step.deps.notify_channel,
            to_admin=False,
        )


def _store_events(step: Step, provider: Provider) -> None:
    if Capability.EVENTS not in provider.capabilities:
        return
    events = provider.list_events(step.job.provider_job_id, after=step.job.last_event_id)
    if not events:
        return
    rows: list[dict[str, Any]] = [
        {
            "provider_event_id": e.id,
            "created_at": e.created_at or step.now(),
            "level": e.level,
            "type": e.type,
            "message": e.message[:2000],
            "data": e.data,
        }
        for e in events
    ]
    with step.begin() as session:
        job_repo.store_events(session, job_id=step.job.id, events=rows)
        job_repo.update_job(session, job_id=step.job.id, values={"last_event_id": events[-1].id})
    _keep_in_step(step.job, {"last_event_id": events[-1].id})


# -- what admins do to a job between stages ---------------------------------------------------


def approve_deployment(session_factory: SessionFactory, *, ref: str) -> str:
    """`/finetune deploy <job>`: let the scheduler create the deployment; returns the label."""
    with session_factory.begin() as session:
        job = _find(session, ref)
        if job.stage != JobStage.AWAITING_DEPLOYMENT or not move(
            session, job, JobStage.DEPLOY_APPROVED
        ):
            raise TunebotError(f"{job.label} is not waiting for a deployment ({job.stage}).")
        return job.label


def promote(
    session_factory: SessionFactory, *, ref: str, user: str, notify_channel: str | None
) -> str:
    """`/finetune promote <job>`: make a held-back model live anyway; returns the model."""
    with session_factory.begin() as session:
        job = _find(session, ref)
        if job.stage != JobStage.HELD_BACK or not job.callable_model:
            raise TunebotError(f"{job.label} is not held back (it is {job.stage}).")
        if not move(session, job, JobStage.LIVE):
            raise TunebotError(f"{job.label} was just changed by someone else; look again.")
        # A held-back job is by definition not the active model, so this always switches.
        repo.set_active_model(
            session,
            model=ModelRef(job.provider, job.callable_model),
            reason="promote",
            set_by_user=user,
            set_by_job=job.label,
            channel=job.for_channel,
        )
        announce.about_job(
            session,
            job,
            announce.Kind.JOB_PROMOTED,
            notices.promoted_notice(job, user),
            notify_channel=notify_channel,
            to_admin=False,
        )
        return job.callable_model


def _find(session: Session, ref: str) -> Job:
    job = job_repo.find_job(session, ref=ref)
    if job is None:
        raise TunebotError(f"There is no job `{ref}`. `/finetune jobs` lists them.")
    return job
