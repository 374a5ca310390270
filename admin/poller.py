"""One scheduler tick: carry every open job one step further (admin.job_stages), keep the
active model served, queue the budget's notices and the Home tab refreshes a model switch calls
for, then send what the outbox holds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from admin import budget, home, job_stages, plans, serving
from admin.budget import SpendGauge
from admin.errors import TunebotError
from admin.evaluation.config import EvalDeps
from admin.job_stages import JobStage
from admin.outbox import Notifier, drain_outbox
from admin.providers.registry import Providers
from storage import job_repo
from storage.db import SessionFactory
from storage.models import utcnow
from storage.repo import ModelRef

log = logging.getLogger(__name__)

FINISHED = frozenset({JobStage.HELD_BACK, JobStage.FAILED, JobStage.CANCELLED})


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
    # This month's spend against TUNEBOT_MONTHLY_BUDGET_USD; None: no budget, no notices.
    budget: SpendGauge | None = None


@dataclass
class TickReport:
    polled: int = 0
    went_live: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    errors: int = 0
    sent: int = 0


def tick(deps: PollerDeps) -> TickReport:
    """Advance every open job; safe to run in several processes at once."""
    report = TickReport()
    with deps.session_factory() as session:
        jobs = [(j.id, j.label) for j in job_repo.open_jobs(session, stages=job_stages.OPEN)]
    report.polled = len(jobs)
    with ThreadPoolExecutor(max_workers=max(1, min(deps.workers, len(jobs) or 1))) as pool:
        for outcome in pool.map(lambda job: _advance_safely(deps, *job), jobs):
            if outcome is None:
                report.errors += 1
            elif outcome == JobStage.LIVE:
                report.went_live.append(outcome)
            elif outcome in FINISHED:
                report.finished.append(outcome)
    if deps.base_model is not None:
        try:
            serving.keep_serving(
                deps.session_factory,
                deps.providers,
                base_model=deps.base_model,
                notify_channel=deps.notify_channel,
                now=deps.clock(),
            )
        except Exception:
            log.exception("checking that the active model is served failed")
    if deps.budget is not None:
        try:
            budget.notify(deps.budget)
        except Exception:
            log.exception("checking this month's spend against the budget failed")
    try:
        # After the jobs and the fallback: any switch they (or a command) made is seen here.
        home.refresh_after_switch(deps.session_factory, now=deps.clock())
    except Exception:
        log.exception("queueing Home tab refreshes failed")
    report.sent = drain_outbox(deps.session_factory, deps.notifier, now=deps.clock())
    return report


def _advance_safely(deps: PollerDeps, job_id: int, label: str) -> JobStage | None:
    try:
        stage = job_stages.advance(deps, job_id)
        if stage == JobStage.TRAINING:
            plans.note_progress(deps.session_factory, job_id=job_id)
        return stage
    except TunebotError as error:
        log.warning("carrying %s forward failed: %s", label, error)
    except Exception:
        log.exception("carrying %s forward failed", label)
    return None
