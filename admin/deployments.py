"""Paid deployments of trained models: whether one needs an admin's approval, what they cost,
and removing old ones.

Used for any gateway that implements the `Deployments` protocol; no provider is named here.
A deployment is never torn down by surprise: the active model and the rollback target keep
theirs, and only `/finetune undeploy <model>` removes one. Approving one is a job's move
(admin.job_stages).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from admin import lifecycle
from admin.errors import TunebotError
from admin.providers.base import Deployment, Deployments
from admin.providers.plugin import Provider
from storage.db import SessionFactory
from storage.repo import ModelRef

log = logging.getLogger(__name__)


def protected(session_factory: SessionFactory, *, default_model: ModelRef) -> set[ModelRef]:
    """Every model answering somewhere and every rollback target: none may lose its
    deployment."""
    with session_factory() as session:
        scopes = lifecycle.answering(session, default_model=default_model)
    return {s.current for s in scopes} | {s.previous for s in scopes if s.previous is not None}


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
        answering = {s.current for s in lifecycle.answering(session, default_model=default_model)}
    keep = protected(session_factory, default_model=default_model)
    for name, gateway in providers:
        if provider is not None and name != provider:
            continue
        ref = ModelRef(name, model)
        if ref in keep:
            why = "the active model" if ref in answering else "the rollback target"
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
