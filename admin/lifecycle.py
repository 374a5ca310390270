"""The active model's life: switching, rolling back, and warnings before it shuts down."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from admin.errors import TunebotError
from admin.providers.registry import Providers
from admin.training import retrain_hint
from storage import job_repo, outbox, repo
from storage.db import SessionFactory
from storage.repo import ModelRef

log = logging.getLogger(__name__)

WARN_DAYS = (1, 7, 30)


@dataclass(frozen=True)
class ModelLine:
    ref: ModelRef
    active: bool
    since: str
    by: str
    shutdown: date | None
    advice: str = ""  # how to move it before it shuts down

    @property
    def model(self) -> str:
        return self.ref.model


def shutdown_date(providers: Providers, ref: ModelRef) -> date | None:
    """The provider's word if it gives one, else what its plugin knows (OpenAI's retirements)."""
    if ref.provider not in providers:
        return None
    configured = providers.get(ref.provider)
    try:
        info = configured.model_info(ref.model)
    except TunebotError as error:
        log.info("model info for %s unavailable: %s", ref, error)
        info = None
    if info is not None and info.shutdown_date is not None:
        return info.shutdown_date
    return configured.shutdown_date(ref.model)


def migration_advice(
    session_factory: SessionFactory, providers: Providers, ref: ModelRef, ends: date | None
) -> str:
    """For a model that will stop answering: the exact command that retrains its data elsewhere."""
    if ends is None:
        return ""
    with session_factory() as session:
        job = job_repo.jobs_for_models(session, models=[ref.model]).get(ref.model)
        dataset = f"ds-{job.dataset_id}" if job is not None and job.dataset_id else None
    return retrain_hint(providers, dataset, exclude=ref.provider).strip()


def check_shutdown(
    session_factory: SessionFactory,
    providers: Providers,
    *,
    default_model: ModelRef,
    notify_channel: str | None,
    today: date,
) -> int | None:
    """Queue one warning per threshold (30, 7, 1 days) for the active model; days left or None."""
    with session_factory() as session:
        ref = repo.get_active_model(session, default=default_model)
    ends = shutdown_date(providers, ref)
    if ends is None:
        return None
    left = (ends - today).days
    due = [days for days in WARN_DAYS if left <= days]
    if not due or left < 0 or notify_channel is None:
        return left
    threshold = min(due)
    advice = migration_advice(session_factory, providers, ref, ends)
    text = (
        f":warning: The model tunebot answers with, `{ref.model}` at "
        f"{providers.label(ref.provider)}, stops answering on *{ends.isoformat()}* "
        f"({left} day{'s' if left != 1 else ''} from now). "
        + (advice + " " if advice else "Train a replacement on a model that stays available. ")
        + "`/finetune use <model> provider=<name>` switches to another model. After that date "
        f"tunebot falls back to `{default_model.model}`."
    )
    with session_factory.begin() as session:
        outbox.enqueue(
            session,
            dedupe_key=f"shutdown:{ref.provider}:{ref.model}:{threshold}",
            kind="shutdown",
            channel=notify_channel,
            payload={"text": text, "chart": None},
        )
    return left


def known_models(session_factory: SessionFactory, *, default_model: ModelRef) -> set[ModelRef]:
    with session_factory() as session:
        refs = {h.ref for h in repo.model_history(session, limit=500)}
        for job in job_repo.list_jobs(session, limit=500):
            refs.update(
                ModelRef(job.provider, m) for m in (job.callable_model, job.fine_tuned_model) if m
            )
    return refs | {default_model}


def resolve_model(
    session_factory: SessionFactory,
    providers: Providers,
    *,
    model: str,
    provider: str | None,
    default_model: ModelRef,
) -> ModelRef:
    """The (provider, model) an admin means; an unknown model on a named provider is checked
    with that provider before anything switches."""
    known = known_models(session_factory, default_model=default_model)
    if provider is None:
        matches = sorted({ref for ref in known if ref.model == model})
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(f"`provider={ref.provider}`" for ref in matches)
            raise TunebotError(f"`{model}` is known at several providers; add one of {names}.")
        raise TunebotError(
            f"`{model}` is not a model tunebot knows. `/finetune models` lists them; add "
            "`provider=<name>` to use a model tunebot has not used yet."
        )
    configured = providers.get(provider)
    ref = ModelRef(configured.name, model)
    if ref in known:
        return ref
    if not configured.model_info(model).exists:
        raise TunebotError(f"{configured.label} does not know a model `{model}`.")
    return ref


def use_model(session_factory: SessionFactory, *, ref: ModelRef, user: str) -> bool:
    """Switch to `ref`; False if it is already the active model."""
    with session_factory.begin() as session:
        return repo.set_active_model(session, model=ref, reason="use", set_by_user=user)


def rollback(session_factory: SessionFactory, *, user: str, default_model: ModelRef) -> ModelRef:
    """Switch back to the model active before the current one; returns it."""
    with session_factory.begin() as session:
        current = repo.get_active_model(session, default=default_model)
        previous = rollback_target(session, current=current, default_model=default_model)
        if previous is None:
            raise TunebotError("There is no earlier model to roll back to.")
        repo.set_active_model(session, model=previous, reason="rollback", set_by_user=user)
        return previous


def rollback_target(
    session: Session, *, current: ModelRef, default_model: ModelRef
) -> ModelRef | None:
    """The model `/finetune rollback` would return to (kept deployed for that reason)."""
    history = repo.model_history(session, limit=500)
    return next(
        (h.ref for h in history if h.ref != current),
        default_model if current != default_model else None,
    )
