"""Keeping every model that answers somewhere (the workspace's, each channel's own) and each
rollback target served: reload them after a server restart, and fall back (said once) when one
is gone; and letting go of the models served nowhere any more, where a provider keeps them."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol, runtime_checkable

from admin import announce
from admin.errors import TunebotError
from admin.job_stages import JobStage
from admin.lifecycle import Answering, answering
from admin.providers.base import NotReady
from admin.providers.registry import Providers
from storage import job_repo, repo
from storage.db import SessionFactory
from storage.repo import ModelRef

log = logging.getLogger(__name__)


@runtime_checkable
class Reloadable(Protocol):
    """A gateway whose server forgets models on restart (vLLM's runtime-loaded adapters)."""

    def ensure_loaded(self, model: str) -> bool:
        """Load `model` again if needed; False when it can no longer be served at all."""
        ...


@runtime_checkable
class Retiring(Protocol):
    """A gateway that keeps trained models on its servers and disk (the local provider's
    adapters): those served nowhere any more are let go."""

    def retire_unserved(self, serving: frozenset[str], *, now: datetime) -> None:
        """`serving`: its models that answer somewhere, are rollback targets, or belong to a
        job on its way; every other model it trained is unloaded, then removed in time."""
        ...


# A job here may still go live without an admin's word: its model is never let go under it.
ON_THE_WAY = frozenset(JobStage) - {
    JobStage.LIVE,
    JobStage.HELD_BACK,
    JobStage.FAILED,
    JobStage.CANCELLED,
}


def keep_serving(
    session_factory: SessionFactory,
    providers: Providers,
    *,
    base_model: ModelRef,
    notify_channel: str | None,
    now: datetime,
) -> list[ModelRef]:
    """Make sure every model that answers somewhere, and each rollback target, is loaded, and
    let go of the rest; returns the models switched to where one was gone (each said once)."""
    with session_factory() as session:
        scopes = answering(session, default_model=base_model)
    switched = []
    for scope in scopes:
        for ref in (scope.current, scope.previous):
            if ref is None or ref.provider not in providers:
                continue
            gateway = providers.get(ref.provider)
            if not isinstance(gateway, Reloadable):
                continue
            try:
                servable = gateway.ensure_loaded(ref.model)
            except NotReady as waiting:
                log.info("%s is not loaded yet: %s", ref, waiting)
                continue
            except TunebotError as refused:  # the others, and the upkeep below, go on
                log.warning("%s could not be loaded: %s", ref, refused)
                continue
            if not servable and ref == scope.current:
                to = _fall_back(
                    session_factory, providers, scope.channel, ref, base_model, notify_channel
                )
                switched += [to] if to is not None else []
    _retire(session_factory, providers, base_model=base_model, now=now)
    return switched


def _retire(
    session_factory: SessionFactory, providers: Providers, *, base_model: ModelRef, now: datetime
) -> None:
    """Each provider that keeps trained models hears which of its own are still served."""
    with session_factory() as session:
        scopes = answering(session, default_model=base_model)  # after any fallback above
        jobs = job_repo.open_jobs(session, stages=ON_THE_WAY)
        coming = {
            ModelRef(job.provider, model)
            for job in jobs
            for model in (job.callable_model, job.fine_tuned_model)
            if model
        }
    served = _served(scopes) | coming
    for gateway in providers:
        if not isinstance(gateway, Retiring):
            continue
        mine = frozenset(ref.model for ref in served if ref.provider == gateway.name)
        try:
            gateway.retire_unserved(mine, now=now)
        except Exception:
            log.exception("letting go of %s models served nowhere failed", gateway.label)


def _served(scopes: list[Answering]) -> set[ModelRef]:
    return {ref for scope in scopes for ref in (scope.current, scope.previous) if ref is not None}


def _fall_back(
    session_factory: SessionFactory,
    providers: Providers,
    channel: str | None,
    missing: ModelRef,
    base: ModelRef,
    notify_channel: str | None,
) -> ModelRef | None:
    """The workspace falls back to the base model; a channel to the workspace's model."""
    with session_factory.begin() as session:
        if channel is None:
            switched = repo.set_active_model(
                session, model=base, reason="fallback", set_by_job=None, expected=missing
            )
            to, where = base, ""
        else:
            to = repo.get_active_model(session, default=base)
            switched = repo.follow_workspace(
                session, channel=channel, workspace=to, set_by_user=None
            )
            where = f" in <#{channel}>"
        if switched:
            announce.post(
                session,
                key=f"gone:{missing.provider}:{missing.model}:{channel or 'workspace'}",
                kind=announce.Kind.FALLBACK,
                channel=notify_channel,
                payload=announce.text(
                    f":warning: `{missing.model}` cannot be served by "
                    f"{providers.label(missing.provider)} any more (its files are gone), so "
                    f"tunebot now answers{where} with `{to.model}`. `/finetune models` lists "
                    "the others; `/finetune use <model>` switches."
                ),
            )
    log.warning("%s can no longer be served; %s", missing, "fell back" if switched else "kept")
    return to if switched else None
