"""One scheduler tick: poll open jobs, carry each outcome forward once, then drain the outbox."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from admin import deployments, serving
from admin.errors import TunebotError
from admin.evaluation.config import EvalDeps
from admin.evaluation.gate import Stage, gate
from admin.notices import failure_notice, live_notice
from admin.outbox import Notifier, drain_outbox
from admin.providers.base import JobSnapshot, NotReady
from admin.providers.plugin import Phase, Provider
from admin.providers.registry import Providers
from storage import job_repo, outbox, repo
from storage.db import SessionFactory
from storage.models import Job, utcnow
from storage.repo import ModelRef

log = logging.getLogger(__name__)


@dataclass
class PollerDeps:
    providers: Providers
    session_factory: SessionFactory
    notifier: Notifier
    notify_channel: str | None
    clock: Callable[[], datetime] = utcnow
    workers: int = 16
    # A deployment costing more than this per day waits for `/finetune deploy`; None: never.
    confirm_above_usd: float | None = None
    evaluation: EvalDeps | None = None  # None: no gate, a succeeded job goes live (TUNEBOT_EVAL)
    # What answers when the active model can no longer be served; None: nothing is reloaded.
    base_model: ModelRef | None = None


@dataclass
class TickReport:
    polled: int = 0
    went_live: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    errors: int = 0
    sent: int = 0


def tick(deps: PollerDeps) -> TickReport:
    """Poll every job not yet carried through; safe to run in several processes at once."""
    report = TickReport()
    with deps.session_factory() as session:
        jobs = [(job.id, job.provider_job_id) for job in job_repo.open_jobs(session)]
    report.polled = len(jobs)
    with ThreadPoolExecutor(max_workers=max(1, min(deps.workers, len(jobs) or 1))) as pool:
        for outcome in pool.map(lambda j: _poll_safely(deps, *j), jobs):
            if outcome == "error":
                report.errors += 1
            elif outcome in ("live", "held_back", "failed", "cancelled"):
                (report.went_live if outcome == "live" else report.finished).append(outcome)
    if deps.base_model is not None:
        try:
            serving.keep_serving(
                deps.session_factory,
                deps.providers,
                base_model=deps.base_model,
                notify_channel=deps.notify_channel,
            )
        except Exception:
            log.exception("checking that the active model is served failed")
    report.sent = drain_outbox(deps.session_factory, deps.notifier, now=deps.clock())
    return report


def _poll_safely(deps: PollerDeps, job_id: int, provider_job_id: str) -> str:
    try:
        return poll_job(deps, job_id)
    except TunebotError as error:
        log.warning("polling job %s (%s) failed: %s", job_id, provider_job_id, error)
    except Exception:
        log.exception("polling job %s (%s) failed", job_id, provider_job_id)
    return "error"


def poll_job(deps: PollerDeps, job_id: int) -> str:
    """Advance one job as far as it can go now; returns its stage afterwards."""
    with deps.session_factory() as session:
        job = session.get(Job, job_id)
        assert job is not None
        stage, provider_job_id, last_event = job.stage, job.provider_job_id, job.last_event_id
        provider_name = job.provider
    # Each job is carried by the provider it runs at; one that is no longer configured waits
    # (TunebotError, logged) until it is configured again.
    provider = deps.providers.gateway(provider_name)
    snap = provider.get_job(provider_job_id)
    _store_events(provider, deps, job_id, provider_job_id, last_event)
    with deps.session_factory.begin() as session:
        job_repo.update_job(
            session,
            job_id=job_id,
            values={
                "status": snap.status,
                "trained_tokens": snap.trained_tokens,
                "polled_at": deps.clock(),
            },
        )
    if stage == "training":
        if snap.phase in (Phase.FAILED, Phase.CANCELLED):
            return _finish_unsuccessfully(deps, job_id, snap)
        if snap.phase != Phase.SUCCEEDED:
            return stage
        with deps.session_factory.begin() as session:
            job_repo.advance_stage(
                session,
                job_id=job_id,
                from_stages=["training"],
                to_stage="succeeded",
                fine_tuned_model=snap.fine_tuned_model,
                finished_at=snap.finished_at,
            )
        stage = "succeeded"
    if stage == "succeeded" and deps.confirm_above_usd is not None:
        stage = deployments.gate(
            deps.session_factory,
            provider,
            job_id=job_id,
            snap=snap,
            threshold_per_day=deps.confirm_above_usd,
            notify_channel=deps.notify_channel,
        )
        if stage == deployments.AWAITING:
            return stage
    if stage in ("succeeded", deployments.APPROVED):
        try:
            callable_model = provider.make_callable(snap)
        except NotReady as waiting:
            log.info("job %s: %s", job_id, waiting)
            with deps.session_factory() as session:
                waiting_job = session.get(Job, job_id)
            if waiting_job is not None:
                serving.waited_too_long(
                    deps.session_factory,
                    waiting_job,
                    waiting,
                    now=deps.clock(),
                    notify_channel=deps.notify_channel,
                )
            return stage
        with deps.session_factory.begin() as session:
            job_repo.advance_stage(
                session,
                job_id=job_id,
                from_stages=["succeeded", deployments.APPROVED],
                to_stage="callable",
                callable_model=callable_model,
            )
        stage = "callable"
    if stage in (Stage.CALLABLE, Stage.EVALUATING):
        return _go_live(provider, deps, job_id, snap)
    return stage


def _go_live(provider: Provider, deps: PollerDeps, job_id: int, snap: JobSnapshot) -> str:
    with deps.session_factory() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.callable_model
        model = ModelRef(job.provider, job.callable_model)
    if not provider.is_answering(model.model):
        log.info("job %s: %s does not answer yet; trying again next tick", job_id, model)
        return "callable"
    # The gate: evaluating until the new model has answered the held-out prompts beside the
    # current one, then live, or held back (announced by the gate).
    outcome = gate(
        deps.evaluation, job_id=job_id, clock=deps.clock, notify_channel=deps.notify_channel
    )
    if outcome.stage != Stage.LIVE:
        return str(outcome.stage)
    points = provider.metrics(snap)
    with deps.session_factory.begin() as session:
        # The swap, its history row and the notifications commit together or not at all.
        if not job_repo.advance_stage(
            session, job_id=job_id, from_stages=[Stage.CALLABLE, Stage.EVALUATING], to_stage="live"
        ):
            return "live"  # another scheduler carried it through
        job = session.get(Job, job_id, populate_existing=True)
        assert job is not None
        repo.set_active_model(session, model=model, reason="job", set_by_job=job.label)
        notices = live_notice(
            job,
            snap,
            points,
            deps.notify_channel,
            evaluation=outcome.report,
            not_evaluated=outcome.note,
        )
        for channel, payload in notices:
            outbox.enqueue(
                session,
                dedupe_key=f"{job.label}:live:{channel}",
                kind="job_live",
                channel=channel,
                payload=payload,
            )
    log.info("job %s is live as %s", job_id, model)
    return "live"


def _finish_unsuccessfully(deps: PollerDeps, job_id: int, snap: JobSnapshot) -> str:
    with deps.session_factory.begin() as session:
        if not job_repo.advance_stage(
            session,
            job_id=job_id,
            from_stages=["training"],
            to_stage=snap.phase,
            error_code=snap.error_code,
            error_message=(snap.error_message or "")[:2000] or None,
            finished_at=snap.finished_at or deps.clock(),
        ):
            return snap.phase
        job = session.get(Job, job_id, populate_existing=True)
        assert job is not None
        for channel, payload in failure_notice(job, snap, deps.notify_channel):
            outbox.enqueue(
                session,
                dedupe_key=f"{job.label}:{snap.phase}:{channel}",
                kind="job_failed",
                channel=channel,
                payload=payload,
            )
    return snap.phase


def _store_events(
    provider: Provider,
    deps: PollerDeps,
    job_id: int,
    provider_job_id: str,
    after: str | None,
) -> None:
    if "events" not in provider.capabilities:
        return
    events = provider.list_events(provider_job_id, after=after)
    if not events:
        return
    rows: list[dict[str, Any]] = [
        {
            "provider_event_id": e.id,
            "created_at": e.created_at or deps.clock(),
            "level": e.level,
            "type": e.type,
            "message": e.message[:2000],
            "data": e.data,
        }
        for e in events
    ]
    with deps.session_factory.begin() as session:
        job_repo.store_events(session, job_id=job_id, events=rows)
        job_repo.update_job(session, job_id=job_id, values={"last_event_id": events[-1].id})
