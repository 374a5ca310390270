"""Paid deployments of trained models: confirm costly ones, list their cost, undeploy old ones.

Used for any gateway that implements the `Deployments` protocol; no provider is named here.
A deployment is never torn down by surprise: the active model and the rollback target keep
theirs, and only `/finetune undeploy <model>` removes one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from admin import lifecycle
from admin.errors import TunebotError
from admin.notices import recipients
from admin.providers.base import Deployment, Deployments, JobSnapshot
from admin.providers.plugin import Provider
from storage import job_repo, outbox, repo
from storage.db import SessionFactory
from storage.models import Job
from storage.repo import ModelRef

log = logging.getLogger(__name__)

AWAITING = "awaiting_deployment"  # parked until an admin approves the daily cost
APPROVED = "deploy_approved"  # approved: the poller deploys it like a "succeeded" job


def daily_cost(hourly_usd: float | None) -> float | None:
    return None if hourly_usd is None else hourly_usd * 24


def needs_confirmation(hourly_usd: float | None, threshold_per_day: float) -> bool:
    """True when the deployment would cost more than the threshold per day (or says nothing)."""
    daily = daily_cost(hourly_usd)
    return daily is None or daily > threshold_per_day


def gate(
    session_factory: SessionFactory,
    gateway: Provider,
    *,
    job_id: int,
    snap: JobSnapshot,
    threshold_per_day: float,
    notify_channel: str | None,
) -> str:
    """The stage a succeeded job moves to before its deployment is created: AWAITING (an admin
    must approve the cost; announced once) or APPROVED. Decided once per job, by a guarded
    UPDATE, so a tick after a restart mid-deployment does not ask again."""
    if not isinstance(gateway, Deployments):
        return "succeeded"
    hourly = gateway.deployment_quote(snap)
    if not needs_confirmation(hourly, threshold_per_day):
        with session_factory.begin() as session:
            job_repo.advance_stage(
                session, job_id=job_id, from_stages=["succeeded"], to_stage=APPROVED
            )
        return APPROVED
    with session_factory.begin() as session:
        if not job_repo.advance_stage(
            session, job_id=job_id, from_stages=["succeeded"], to_stage=AWAITING
        ):
            return AWAITING  # another scheduler parked it
        job = session.get(Job, job_id, populate_existing=True)
        assert job is not None
        cost = (
            "an unknown price" if hourly is None else f"${hourly:.2f}/hour (${hourly * 24:.2f}/day)"
        )
        text = (
            f":moneybag: *{job.label} finished training.* Serving it needs a dedicated "
            f"deployment at {cost}, above the ${threshold_per_day:.2f}/day that needs a "
            f"confirmation. Deploy it with `/finetune deploy {job.label}`."
        )
        for channel in recipients(job, notify_channel):
            outbox.enqueue(
                session,
                dedupe_key=f"{job.label}:deploy-confirm:{channel}",
                kind="job_notice",
                channel=channel,
                payload={"text": text, "chart": None},
            )
    log.info("job %s waits for an admin to approve its deployment", job_id)
    return AWAITING


def approve(session_factory: SessionFactory, *, ref: str) -> str:
    """`/finetune deploy <job>`: let the poller create the deployment; returns the job label."""
    with session_factory.begin() as session:
        job = job_repo.find_job(session, ref=ref)
        if job is None:
            raise TunebotError(f"There is no job `{ref}`. `/finetune jobs` lists them.")
        if not job_repo.advance_stage(
            session, job_id=job.id, from_stages=[AWAITING], to_stage=APPROVED
        ):
            raise TunebotError(f"{job.label} is not waiting for a deployment ({job.stage}).")
        return job.label


def protected(session_factory: SessionFactory, *, default_model: ModelRef) -> set[ModelRef]:
    """The active model and the rollback target: neither may lose its deployment."""
    with session_factory() as session:
        active = repo.get_active_model(session, default=default_model)
        previous = lifecycle.rollback_target(session, current=active, default_model=default_model)
    return {active} | ({previous} if previous is not None else set())


def undeploy(
    session_factory: SessionFactory,
    providers: Iterable[tuple[str, Provider]],
    *,
    model: str,
    default_model: ModelRef,
    provider: str | None = None,
) -> str:
    """Remove the deployment serving `model` (at `provider`, or wherever one serves it);
    refused for the active model and the rollback target."""
    with session_factory() as session:
        active = repo.get_active_model(session, default=default_model)
    keep = protected(session_factory, default_model=default_model)
    for name, gateway in providers:
        if provider is not None and name != provider:
            continue
        ref = ModelRef(name, model)
        if ref in keep:
            why = "the active model" if ref == active else "the rollback target"
            raise TunebotError(
                f"`{model}` is {why}, so it keeps its deployment; switch to another model "
                "(`/finetune use`) first."
            )
        if isinstance(gateway, Deployments) and gateway.undeploy(model):
            return f"Removed the deployment of `{model}`; it no longer costs anything."
    raise TunebotError(f"No deployment serves `{model}`. `/finetune models` lists them.")


def running(gateways: Iterable[Provider]) -> list[Deployment]:
    """Every deployment the configured providers run, with its hourly cost where known."""
    found: list[Deployment] = []
    for gateway in gateways:
        if isinstance(gateway, Deployments):
            try:
                found.extend(gateway.list_deployments())
            except TunebotError as error:
                log.warning("listing deployments failed: %s", error)
    return found


def describe(deployments: Iterable[Deployment]) -> list[str]:
    """Lines for `/finetune models`: each deployment and what it costs per day."""
    lines = []
    for d in deployments:
        cost = "cost unknown" if d.hourly_usd is None else f"${d.hourly_usd * 24:.2f}/day"
        lines.append(f"• `{d.model}` deployed ({d.state.lower()}), {cost}")
    return lines
