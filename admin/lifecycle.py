"""The active model's life: switching, rolling back, and warnings before it shuts down."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from admin import announce
from admin.errors import TunebotError
from admin.providers.registry import Providers
from admin.training import retrain_hint
from storage import job_repo, repo
from storage.db import SessionFactory
from storage.repo import ModelRef

log = logging.getLogger(__name__)

WARN_DAYS = (1, 7, 30)


@dataclass(frozen=True)
class ModelLine:
    ref: ModelRef
    # Where it answers now: None for the workspace (every channel without its own), else
    # channel ids; empty when it answers nowhere.
    answers_in: tuple[str | None, ...]
    since: str
    by: str
    shutdown: date | None
    advice: str = ""  # how to move it before it shuts down
    # The trained model's name at its provider, when it answers under another (an endpoint).
    trained: str | None = None

    @property
    def model(self) -> str:
        return self.ref.model

    @property
    def active(self) -> bool:
        return bool(self.answers_in)


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
    """Queue one warning per threshold (30, 7, 1 days) for each model answering somewhere (the
    workspace's, each channel's own); the fewest days left, or None when none stops."""
    with session_factory() as session:
        where: dict[ModelRef, list[str | None]] = {}
        for scope in answering(session, default_model=default_model):
            where.setdefault(scope.current, []).append(scope.channel)
    lefts = []
    for ref, channels in where.items():
        left = _warn(
            session_factory, providers, ref, channels, default_model, notify_channel, today
        )
        if left is not None:
            lefts.append(left)
    return min(lefts) if lefts else None


def _warn(
    session_factory: SessionFactory,
    providers: Providers,
    ref: ModelRef,
    channels: list[str | None],
    default_model: ModelRef,
    notify_channel: str | None,
    today: date,
) -> int | None:
    ends = shutdown_date(providers, ref)
    if ends is None:
        return None
    left = (ends - today).days
    due = [days for days in WARN_DAYS if left <= days]
    if not due or left < 0 or notify_channel is None:
        return left
    threshold = min(due)
    advice = migration_advice(session_factory, providers, ref, ends)
    places = ", ".join("the workspace" if c is None else f"<#{c}>" for c in channels)
    text = (
        f":warning: The model tunebot answers with in {places}, `{ref.model}` at "
        f"{providers.label(ref.provider)}, stops answering on *{ends.isoformat()}* "
        f"({left} day{'s' if left != 1 else ''} from now). "
        + (advice + " " if advice else "Train a replacement on a model that stays available. ")
        + "`/finetune use <model> provider=<name>` switches to another model. After that date "
        f"tunebot falls back to `{default_model.model}`."
    )
    with session_factory.begin() as session:
        announce.post(
            session,
            key=f"shutdown:{ref.provider}:{ref.model}:{threshold}",
            kind=announce.Kind.SHUTDOWN,
            channel=notify_channel,
            payload=announce.text(text),
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


def use_model(
    session_factory: SessionFactory, *, ref: ModelRef, user: str, channel: str | None = None
) -> bool:
    """Switch `channel` (the workspace when None) to `ref`; False if it already answers there."""
    with session_factory.begin() as session:
        return repo.set_active_model(
            session, model=ref, reason="use", set_by_user=user, channel=channel
        )


def rollback(
    session_factory: SessionFactory,
    *,
    user: str,
    default_model: ModelRef,
    channel: str | None = None,
) -> ModelRef:
    """Switch `channel` (the workspace when None) back to the model it answered with before;
    returns it. A channel whose own history runs out answers with the workspace's again."""
    with session_factory.begin() as session:
        if channel is None:
            current = repo.get_active_model(session, default=default_model)
            previous = rollback_target(session, current=current, default_model=default_model)
            if previous is None:
                raise TunebotError("There is no earlier model to roll back to.")
            repo.set_active_model(session, model=previous, reason="rollback", set_by_user=user)
            return previous
        own = {c.channel: c.ref for c in repo.channel_models(session)}
        if channel not in own:
            raise TunebotError(
                f"<#{channel}> has no model of its own: it answers with the workspace's. "
                "`/finetune rollback` without `channel=` switches the workspace's model."
            )
        target = _channel_target(session, channel, own[channel])
        if target is None:
            workspace = repo.get_active_model(session, default=default_model)
            repo.follow_workspace(session, channel=channel, workspace=workspace, set_by_user=user)
            return workspace
        repo.set_active_model(
            session, model=target, reason="rollback", set_by_user=user, channel=channel
        )
        return target


def rollback_target(
    session: Session,
    *,
    current: ModelRef,
    default_model: ModelRef,
    channel: str | None = None,
) -> ModelRef | None:
    """The model `/finetune rollback` would return `channel` (the workspace when None) to; kept
    deployed and loaded for that reason."""
    if channel is not None:
        return _channel_target(session, channel, current) or repo.get_active_model(
            session, default=default_model
        )
    history = repo.scope_history(session, channel=None, limit=500)
    return next(
        (h.ref for h in history if h.ref != current),
        default_model if current != default_model else None,
    )


def _channel_target(session: Session, channel: str, current: ModelRef) -> ModelRef | None:
    """The channel's own model before `current`; None: it followed the workspace's then."""
    for switch in repo.scope_history(session, channel=channel, limit=500):
        if switch.reason == repo.FOLLOWS_WORKSPACE:
            return None
        if switch.ref != current:
            return switch.ref
    return None


@dataclass(frozen=True)
class Answering:
    """Who answers where: a channel's own model (or the workspace's, channel None) and the
    model a rollback there would return to."""

    channel: str | None
    current: ModelRef
    previous: ModelRef | None


def answering(session: Session, *, default_model: ModelRef) -> list[Answering]:
    """The workspace's model first, then each channel with a model of its own."""
    workspace = repo.get_active_model(session, default=default_model)
    found = [
        Answering(
            None,
            workspace,
            rollback_target(session, current=workspace, default_model=default_model),
        )
    ]
    for own in repo.channel_models(session):
        previous = rollback_target(
            session, current=own.ref, default_model=default_model, channel=own.channel
        )
        found.append(Answering(own.channel, own.ref, previous))
    return found
