"""What the Home tab shows, as small queries: which model answers where for everyone, and for
admins the dashboard (jobs and their progress, the last evaluation, feedback, deployments and
what they cost, spend this month); and which Home tabs a model switch should refresh.

The view itself is bot.home_views'; the buttons' actions are the admin functions the slash
command calls (admin.job_stages.promote, admin.lifecycle.rollback, admin.deployments.undeploy).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin import announce, deployments, job_stages, lifecycle, plans, usage
from admin.errors import TunebotError
from admin.providers.base import Deployments
from admin.providers.plugin import Provider
from storage import eval_repo, feedback_repo, home_repo, job_repo, repo, usage_repo
from storage.db import SessionFactory
from storage.models import Evaluation, Job
from storage.repo import ModelRef

log = logging.getLogger(__name__)

MAX_JOBS = 10  # open jobs listed; the rest are counted
FEEDBACK_DAYS = 30


def models_by_channel(session: Session, *, default: ModelRef) -> list[tuple[str | None, ModelRef]]:
    """Which model answers where: (channel id, model) pairs, None standing for the
    workspace's own setting, which every channel without one of its own uses."""
    workspace = repo.get_active_model(session, default=default)
    return [(None, workspace)] + [(c.channel, c.ref) for c in repo.channel_models(session)]


@dataclass(frozen=True)
class JobLine:
    label: str
    provider: str
    base_model: str
    stage: str
    started_by: str
    progress: plans.Progress | None = None


@dataclass(frozen=True)
class LastEvaluation:
    job: str
    candidate: str
    scores: str  # admin.plans.score_line
    verdict: str | None  # live | held_back for the gate; None on demand
    finished_at: datetime | None


@dataclass(frozen=True)
class Feedback:
    days: int
    positive: int
    negative: int
    corrections: int


@dataclass(frozen=True)
class PaidDeployment:
    provider: str
    model: str
    state: str
    daily_usd: float | None
    kept_as: str | None = None  # "the active model" / "the rollback target": no undeploy
    month_usd: float | None = None  # what it has cost this month, where its start is known


@dataclass(frozen=True)
class Spend:
    month: str  # "2026-12"
    training_usd: float  # the estimates of the jobs started this month
    training_jobs: int
    deployments_daily_usd: float  # the paid deployments running now, per day, where known
    unpriced_deployments: int
    # Tokens answered this month, priced by each provider's declaration (None: not priced).
    tokens_usd: float | None = None
    unpriced_tokens: int = 0  # answered by models whose provider publishes no price
    deployments_month_usd: float = 0.0  # the paid deployments' cost this month, where known
    budget_usd: float | None = None  # TUNEBOT_MONTHLY_BUDGET_USD, when set

    @property
    def total_usd(self) -> float:
        return self.training_usd + self.deployments_month_usd + (self.tokens_usd or 0.0)


@dataclass(frozen=True)
class HomeData:
    is_admin: bool
    models: list[tuple[str | None, ModelRef]]
    jobs: list[JobLine] = field(default_factory=list)
    more_jobs: int = 0
    held_back: list[JobLine] = field(default_factory=list)
    rollback_to: ModelRef | None = None
    last_evaluation: LastEvaluation | None = None
    feedback: Feedback | None = None
    deployments: list[PaidDeployment] = field(default_factory=list)
    spend: Spend | None = None


def load(
    session_factory: SessionFactory,
    providers: Iterable[tuple[str, Provider]],
    *,
    default_model: ModelRef,
    is_admin: bool,
    now: datetime,
    price: usage.PriceLookup | None = None,
    budget_usd: float | None = None,
) -> HomeData:
    """Everything one person's Home tab shows; the dashboard only for an admin. `price` prices
    this month's answer tokens (None: they are not shown), `budget_usd` is the month's budget."""
    with session_factory() as session:
        models = models_by_channel(session, default=default_model)
        if not is_admin:
            return HomeData(is_admin=False, models=models)
        active = repo.get_active_model(session, default=default_model)
        waiting = [*job_stages.OPEN, *job_stages.WAITING_FOR_ADMIN]
        open_jobs = job_repo.open_jobs(session, stages=waiting)
        running = [j for j in open_jobs if j.stage != job_stages.JobStage.HELD_BACK]
        held = [j for j in open_jobs if j.stage == job_stages.JobStage.HELD_BACK]
        data = HomeData(
            is_admin=True,
            models=models,
            jobs=[_line(session, j) for j in running[-MAX_JOBS:]],
            more_jobs=max(0, len(running) - MAX_JOBS),
            held_back=[_line(session, j) for j in held[-MAX_JOBS:]],
            rollback_to=lifecycle.rollback_target(
                session, current=active, default_model=default_model
            ),
            last_evaluation=_last_evaluation(session),
            feedback=_feedback(session, now),
        )
    paid = _deployments(session_factory, providers, default_model, now)
    spend = _spend(session_factory, paid, now, price, budget_usd)
    return dataclasses.replace(data, deployments=paid, spend=spend)


def _line(session: Session, job: Job) -> JobLine:
    progress = plans.progress_of(session, job_id=job.id) if job.stage == "training" else None
    return JobLine(job.label, job.provider, job.base_model, job.stage, job.started_by, progress)


def _last_evaluation(session: Session) -> LastEvaluation | None:
    row = session.scalars(
        select(Evaluation)
        .where(Evaluation.status == eval_repo.DONE)
        .order_by(Evaluation.finished_at.desc(), Evaluation.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return LastEvaluation(
        job=f"job-{row.job_id}",
        candidate=row.candidate_model,
        scores=plans.score_line(row.report or {}),
        verdict=row.verdict,
        finished_at=row.finished_at,
    )


def _feedback(session: Session, now: datetime) -> Feedback:
    since = now - timedelta(days=FEEDBACK_DAYS)
    counts = feedback_repo.vote_counts(session, since=since)
    return Feedback(
        days=FEEDBACK_DAYS,
        positive=sum(c.positive for c in counts),
        negative=sum(c.negative for c in counts),
        corrections=feedback_repo.correction_count(session, since=since),
    )


def _deployments(
    session_factory: SessionFactory,
    providers: Iterable[tuple[str, Provider]],
    default_model: ModelRef,
    now: datetime,
) -> list[PaidDeployment]:
    with session_factory() as session:
        active = repo.get_active_model(session, default=default_model)
    keep = deployments.protected(session_factory, default_model=default_model)
    found = []
    for name, gateway in providers:
        if not isinstance(gateway, Deployments):
            continue
        try:
            listed = gateway.list_deployments()
        except TunebotError as error:
            log.warning("listing %s deployments failed: %s", name, error)
            continue
        for d in listed:
            ref = ModelRef(name, d.model)
            kept = None
            if ref in keep:
                kept = "the active model" if ref == active else "the rollback target"
            running = usage.RunningDeployment(name, d)
            found.append(
                PaidDeployment(
                    name, d.model, d.state, running.daily_usd, kept, running.month_usd(now)
                )
            )
    return found


def _spend(
    session_factory: SessionFactory,
    paid: list[PaidDeployment],
    now: datetime,
    price: usage.PriceLookup | None,
    budget_usd: float | None,
) -> Spend:
    start = usage.month_start(now)
    with session_factory() as session:
        jobs, training = usage_repo.training_since(session, since=start)
        tokens = (
            usage.price_rows(usage_repo.token_rows(session, since=start), price)
            if price is not None
            else None
        )
    priced = [d.daily_usd for d in paid if d.daily_usd is not None]
    return Spend(
        month=f"{start:%Y-%m}",
        training_usd=training,
        training_jobs=jobs,
        deployments_daily_usd=sum(priced),
        unpriced_deployments=len(paid) - len(priced),
        tokens_usd=tokens.usd if tokens is not None else None,
        unpriced_tokens=tokens.unpriced_tokens if tokens is not None else 0,
        deployments_month_usd=sum(d.month_usd for d in paid if d.month_usd is not None),
        budget_usd=budget_usd,
    )


def opened(session_factory: SessionFactory, *, user: str, is_admin: bool, now: datetime) -> None:
    """Remember who looks at the Home tab, so changes refresh their view."""
    with session_factory.begin() as session:
        home_repo.opened(session, user_id=user, is_admin=is_admin, now=now)


def refresh_after_switch(session_factory: SessionFactory, *, now: datetime) -> int:
    """Queue a Home refresh, once, for everyone whose view predates the newest model switch
    (whatever made it: a job, a command, a button, a fallback); how many were queued."""
    with session_factory.begin() as session:
        switch = home_repo.latest_switch(session)
        users = home_repo.claim_switch(session, switch_id=switch, since=now - plans.HOME_WATCHERS)
        return announce.refresh_home(session, users, reason=f"switch:{switch}")


def refresh_admins(session_factory: SessionFactory, *, reason: str, now: datetime) -> int:
    """Queue a refresh of the dashboards admins watch, once per `reason` (a change that is
    neither a job's move nor a model switch: a deployment removed)."""
    with session_factory.begin() as session:
        users = home_repo.admins(session, since=now - plans.HOME_WATCHERS)
        return announce.refresh_home(session, users, reason=reason)
