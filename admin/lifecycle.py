"""The active model's life: switching, rolling back, and warnings before it shuts down."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from admin.errors import TunebotError
from admin.providers.base import FineTuneProvider
from admin.tokens import base_model
from storage import job_repo, outbox, repo
from storage.db import SessionFactory

log = logging.getLogger(__name__)

WARN_DAYS = (1, 7, 30)
# OpenAI retires the fine-tunable gpt-4o / gpt-4o-mini / gpt-4.1 / gpt-4.1-mini snapshots and
# every fine-tune of them on this date; its Models API does not report it, so it is known here.
OPENAI_FINE_TUNE_SHUTDOWN = date(2027, 1, 14)
_OPENAI_RETIRING = (
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
)


@dataclass(frozen=True)
class ModelLine:
    model: str
    active: bool
    since: str
    by: str
    shutdown: date | None


def shutdown_date(provider: FineTuneProvider, model: str) -> date | None:
    """The provider's word if it gives one, else what is publicly announced for OpenAI."""
    try:
        info = provider.model_info(model)
    except TunebotError as error:
        log.info("model info for %s unavailable: %s", model, error)
        info = None
    if info is not None and info.shutdown_date is not None:
        return info.shutdown_date
    if provider.name == "openai":
        base = base_model(model)
        if base in _OPENAI_RETIRING or (
            model.startswith("ft:") and base.startswith(_OPENAI_RETIRING)
        ):
            return OPENAI_FINE_TUNE_SHUTDOWN
    return None


def check_shutdown(
    session_factory: SessionFactory,
    provider: FineTuneProvider,
    *,
    default_model: str,
    notify_channel: str | None,
    today: date,
) -> int | None:
    """Queue one warning per threshold (30, 7, 1 days) for the active model; days left or None."""
    with session_factory() as session:
        model = repo.get_active_model(session, default=default_model)
    ends = shutdown_date(provider, model)
    if ends is None:
        return None
    left = (ends - today).days
    due = [days for days in WARN_DAYS if left <= days]
    if not due or left < 0 or notify_channel is None:
        return left
    threshold = min(due)
    text = (
        f":warning: The model tunebot answers with, `{model}`, shuts down on "
        f"*{ends.isoformat()}* ({left} day{'s' if left != 1 else ''} from now). "
        "Train a replacement on a model that stays available (`/finetune train ds-N model=...`) "
        f"or switch with `/finetune use <model>`. After that date tunebot falls back to "
        f"`{default_model}`."
    )
    with session_factory.begin() as session:
        outbox.enqueue(
            session,
            dedupe_key=f"shutdown:{model}:{threshold}",
            kind="shutdown",
            channel=notify_channel,
            payload={"text": text, "chart": None},
        )
    return left


def known_models(session_factory: SessionFactory, *, default_model: str) -> set[str]:
    with session_factory() as session:
        names = {h.model for h in repo.model_history(session, limit=500)}
        for job in job_repo.list_jobs(session, limit=500):
            names.update(m for m in (job.callable_model, job.fine_tuned_model) if m)
    return names | {default_model}


def use_model(
    session_factory: SessionFactory, *, model: str, user: str, default_model: str
) -> bool:
    """Switch to a model tunebot knows (history, jobs, the base model); False if already it."""
    if model not in known_models(session_factory, default_model=default_model):
        raise TunebotError(
            f"`{model}` is not a model tunebot knows. `/finetune models` lists them."
        )
    with session_factory.begin() as session:
        return repo.set_active_model(session, model=model, reason="use", set_by_user=user)


def rollback(session_factory: SessionFactory, *, user: str, default_model: str) -> str:
    """Switch back to the model active before the current one; returns its name."""
    with session_factory.begin() as session:
        current = repo.get_active_model(session, default=default_model)
        previous = next(
            (h.model for h in repo.model_history(session, limit=500) if h.model != current),
            default_model if current != default_model else None,
        )
        if previous is None:
            raise TunebotError("There is no earlier model to roll back to.")
        repo.set_active_model(session, model=previous, reason="rollback", set_by_user=user)
        return previous
