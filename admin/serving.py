"""Keeping every model that answers somewhere (the workspace's, each channel's own) and each
rollback target served: reload them after a server restart, and fall back (said once) when one
is gone."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from admin import announce
from admin.lifecycle import answering
from admin.providers.base import NotReady
from admin.providers.registry import Providers
from storage import repo
from storage.db import SessionFactory
from storage.repo import ModelRef

log = logging.getLogger(__name__)


@runtime_checkable
class Reloadable(Protocol):
    """A gateway whose server forgets models on restart (vLLM's runtime-loaded adapters)."""

    def ensure_loaded(self, model: str) -> bool:
        """Load `model` again if needed; False when it can no longer be served at all."""
        ...


def keep_serving(
    session_factory: SessionFactory,
    providers: Providers,
    *,
    base_model: ModelRef,
    notify_channel: str | None,
) -> list[ModelRef]:
    """Make sure every model that answers somewhere, and each rollback target, is loaded;
    returns the models switched to where one was gone (each said once)."""
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
            if not servable and ref == scope.current:
                to = _fall_back(
                    session_factory, providers, scope.channel, ref, base_model, notify_channel
                )
                switched += [to] if to is not None else []
    return switched


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
