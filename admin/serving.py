"""Keeping the active model and the rollback target served: reload them after a server restart,
and fall back to the base model (said once) when the active one is gone."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from admin import announce
from admin.lifecycle import rollback_target
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
) -> ModelRef | None:
    """Make sure the active model and the rollback target are loaded; returns the model
    switched to when the active one was gone (once, with one notice), else None."""
    with session_factory() as session:
        current = repo.get_active_model(session, default=base_model)
        previous = rollback_target(session, current=current, default_model=base_model)
    for ref in (current, previous):
        if ref is None or ref.provider not in providers:
            continue
        gateway = providers.gateway(ref.provider)
        if not isinstance(gateway, Reloadable):
            continue
        try:
            servable = gateway.ensure_loaded(ref.model)
        except NotReady as waiting:
            log.info("%s is not loaded yet: %s", ref, waiting)
            continue
        if not servable and ref == current:
            return _fall_back(session_factory, providers, current, base_model, notify_channel)
    return None


def _fall_back(
    session_factory: SessionFactory,
    providers: Providers,
    missing: ModelRef,
    base: ModelRef,
    notify_channel: str | None,
) -> ModelRef | None:
    with session_factory.begin() as session:
        switched = repo.set_active_model(
            session, model=base, reason="fallback", set_by_job=None, expected=missing
        )
        if switched:
            announce.post(
                session,
                key=f"gone:{missing.provider}:{missing.model}",
                kind=announce.Kind.FALLBACK,
                channel=notify_channel,
                payload=announce.text(
                    f":warning: `{missing.model}` cannot be served by "
                    f"{providers.label(missing.provider)} any more (its files are gone), so "
                    f"tunebot now answers with `{base.model}`. `/finetune models` lists the "
                    "others; `/finetune use <model>` switches."
                ),
            )
    log.warning("%s can no longer be served; %s", missing, "fell back" if switched else "kept")
    return base if switched else None
