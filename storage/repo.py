"""Queries for the active model and its history, turns, claimed Slack events and datasets, and
the shared insert-or-ignore; the other tables have their own *_repo modules. Callers own the
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    CursorResult,
    Executable,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from storage.models import (
    ActiveModel,
    ChannelPrompt,
    Dataset,
    ModelHistory,
    SlackEvent,
    Turn,
    utcnow,
)

# The workspace's row in active_model (every channel without a model of its own).
WORKSPACE = ""


class ModelRef(NamedTuple):
    """A model and where it is served: the same id at two providers is two models."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.model} ({self.provider})"


@dataclass(frozen=True)
class ModelSwitch:
    ref: ModelRef
    activated_at: datetime
    set_by_user: str | None
    set_by_job: str | None
    reason: str
    channel: str | None = None  # None: the workspace's model

    @property
    def model(self) -> str:
        return self.ref.model


@dataclass(frozen=True)
class ChannelModel:
    """A channel that answers with a model of its own."""

    channel: str
    ref: ModelRef
    since: datetime


# Why a channel's history says it follows the workspace's model again (no model of its own).
FOLLOWS_WORKSPACE = "follows the workspace"

# Read on every message. Statements built once are compiled once: SQLAlchemy memoises a
# statement's cache key on the object, where a statement rebuilt per call is traversed again.
_WORKSPACE_MODEL = select(ActiveModel.provider, ActiveModel.model).where(
    ActiveModel.channel_id == WORKSPACE
)
_CHANNEL_OR_WORKSPACE_MODEL = (
    select(ActiveModel.provider, ActiveModel.model)
    .where(ActiveModel.channel_id.in_([bindparam("channel"), WORKSPACE]))
    .order_by(ActiveModel.channel_id == WORKSPACE)  # the channel's own row first
    .limit(1)
)
_CHANNEL_PROMPT = select(ChannelPrompt.prompt).where(ChannelPrompt.channel_id == bindparam("c"))


def get_active_model(
    session: Session, *, default: ModelRef, channel: str | None = None
) -> ModelRef:
    """The model that answers in `channel` (its own, else the workspace's; the workspace's
    when None), or `default` until anything is stored."""
    if channel is None:
        row = session.execute(_WORKSPACE_MODEL).first()
    else:
        row = session.execute(_CHANNEL_OR_WORKSPACE_MODEL, {"channel": channel}).first()
    return ModelRef(row.provider, row.model) if row is not None else default


def channel_models(session: Session) -> list[ChannelModel]:
    """Channels with a model of their own, by channel id."""
    rows = session.scalars(
        select(ActiveModel)
        .where(ActiveModel.channel_id != WORKSPACE)
        .order_by(ActiveModel.channel_id)
    ).all()
    return [ChannelModel(str(r.channel_id), ModelRef(r.provider, r.model), r.since) for r in rows]


def set_active_model(
    session: Session,
    *,
    model: ModelRef,
    reason: str,
    set_by_user: str | None = None,
    set_by_job: str | None = None,
    expected: ModelRef | None = None,
    channel: str | None = None,
) -> bool:
    """Make `model` active in `channel` (the workspace when None); True if this call changed
    it (so the caller announces it once).

    With `expected`, change it only if `expected` is still the model of that scope (a fallback
    must not undo a swap another replica just made).
    """
    history = ModelHistory(
        provider=model.provider,
        model=model.model,
        set_by_user=set_by_user,
        set_by_job=set_by_job,
        reason=reason,
        channel_id=channel,
    )
    session.add(history)
    session.flush()
    now = utcnow()
    scope = ActiveModel.channel_id == (WORKSPACE if channel is None else channel)
    guards = [
        scope,
        ~((ActiveModel.model == model.model) & (ActiveModel.provider == model.provider)),
    ]
    if expected is not None:
        guards += [ActiveModel.model == expected.model, ActiveModel.provider == expected.provider]
    switch = (
        update(ActiveModel)
        .where(*guards)
        .values(provider=model.provider, model=model.model, since=now, history_id=history.id)
    )
    if cast(CursorResult[Any], session.execute(switch)).rowcount:
        return True
    if expected is None and not session.scalar(select(exists().where(scope))):
        row = {"provider": model.provider, "model": model.model, "since": now}
        row |= {"history_id": history.id, "channel_id": WORKSPACE if channel is None else channel}
        if insert_ignore(session, ActiveModel, row):
            return True
        # Another swap made the scope's first row meanwhile (two jobs going live at once on
        # PostgreSQL; its INSERT waited for that one to commit): this swap comes after it.
        if cast(CursorResult[Any], session.execute(switch)).rowcount:
            return True
    session.delete(history)
    return False


def follow_workspace(
    session: Session,
    *,
    channel: str,
    workspace: ModelRef,
    set_by_user: str | None,
    expected: ModelRef | None = None,
) -> bool:
    """`channel` gives up its own model (only if it is still `expected`, when given) and
    answers with the workspace's again; False when it had none."""
    guards = [ActiveModel.channel_id == channel]
    if expected is not None:
        guards += [ActiveModel.model == expected.model, ActiveModel.provider == expected.provider]
    result = session.execute(delete(ActiveModel).where(*guards))
    if not cast(CursorResult[Any], result).rowcount:
        return False
    session.add(
        ModelHistory(
            provider=workspace.provider,
            model=workspace.model,
            set_by_user=set_by_user,
            reason=FOLLOWS_WORKSPACE,
            channel_id=channel,
        )
    )
    return True


def model_history(session: Session, *, limit: int = 50) -> list[ModelSwitch]:
    """Every scope's switches, newest first."""
    return _switches(session, select(ModelHistory), limit)


def scope_history(session: Session, *, channel: str | None, limit: int = 50) -> list[ModelSwitch]:
    """One scope's switches, newest first: a channel's, or (None) the workspace's."""
    scope = (
        ModelHistory.channel_id.is_(None) if channel is None else ModelHistory.channel_id == channel
    )
    return _switches(session, select(ModelHistory).where(scope), limit)


def _switches(session: Session, query: Select[ModelHistory], limit: int) -> list[ModelSwitch]:
    rows: list[ModelHistory] = list(
        session.scalars(query.order_by(ModelHistory.id.desc()).limit(limit)).all()
    )
    return [
        ModelSwitch(
            ModelRef(r.provider, r.model),
            r.activated_at,
            r.set_by_user,
            r.set_by_job,
            r.reason,
            r.channel_id,
        )
        for r in rows
    ]


def channel_prompt(session: Session, *, channel: str) -> str | None:
    """The channel's own system prompt; None: it uses the workspace's."""
    return session.execute(_CHANNEL_PROMPT, {"c": channel}).scalar()


def channel_prompts(session: Session) -> dict[str, str]:
    return {r.channel_id: r.prompt for r in session.scalars(select(ChannelPrompt))}


def set_channel_prompt(session: Session, *, channel: str, prompt: str | None, user: str) -> bool:
    """Set (or with None, remove) a channel's prompt; False when there was nothing to remove."""
    if prompt is None:
        result = session.execute(delete(ChannelPrompt).where(ChannelPrompt.channel_id == channel))
        return bool(cast(CursorResult[Any], result).rowcount)
    found = session.get(ChannelPrompt, channel)
    if found is None:
        session.add(ChannelPrompt(channel_id=channel, prompt=prompt, set_by=user, set_at=utcnow()))
    else:
        found.prompt, found.set_by, found.set_at = prompt, user, utcnow()
    return True


def claim_event(
    session: Session, *, event_id: str, event_type: str, message_key: str | None
) -> bool:
    """Record an incoming event; False if it (or its twin for the same message) was seen."""
    return insert_ignore(
        session,
        SlackEvent,
        {
            "event_id": event_id,
            "event_type": event_type,
            "message_key": message_key,
            "received_at": utcnow(),
        },
    )


def claim_message(
    session: Session, *, event_id: str | None, event_type: str, channel: str, ts: str
) -> bool:
    """Claim the Slack message at channel:ts, whichever of its events arrives first."""
    key = f"{channel}:{ts}"
    return claim_event(session, event_id=event_id or key, event_type=event_type, message_key=key)


def record_turn(session: Session, *, turn: Turn) -> int:
    """Store a turn; its id (for its answer), from the INSERT itself."""
    # One row per answer and nothing reads it back in this session: a Core INSERT skips the
    # ORM's unit of work, which cost as much as the rest of the answer's storage.
    values = {column.key: getattr(turn, column.key) for column in Turn.__table__.columns}
    values.pop("id")
    values["created_at"] = values["created_at"] or utcnow()
    return int(session.execute(_INSERT_TURN, values).scalar_one())


_INSERT_TURN = insert(cast(Table, Turn.__table__)).returning(Turn.__table__.c.id)


def has_answered_thread(session: Session, *, channel_id: str, thread_ts: str) -> bool:
    """Whether the bot answered in this thread, or is answering its first message right now."""
    answered = exists().where(
        Turn.channel_id == channel_id, Turn.thread_ts == thread_ts, Turn.outcome != "ignored"
    )
    # The turn is written when a reply ends; the claim of the thread's first message is
    # there from the start, so a quick follow-up is not missed.
    taking = exists().where(SlackEvent.message_key == f"{channel_id}:{thread_ts}")
    return bool(session.scalar(select(answered | taking)))


def recent_turns(session: Session, *, limit: int = 20) -> list[Turn]:
    return list(session.scalars(select(Turn).order_by(Turn.id.desc()).limit(limit)).all())


def insert_ignore(session: Session, table: type, values: dict[str, object]) -> bool:
    # ON CONFLICT DO NOTHING keeps the caller's transaction usable, unlike catching
    # IntegrityError, and both databases accept it.
    statement = _insert_ignore(table, session.get_bind().dialect.name)
    return session.execute(statement, values).first() is not None


@cache
def _insert_ignore(table: type, dialect: str) -> Executable:
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING tells whether the row went in, on both databases.
    # The Core table, not the ORM class: a plain INSERT skips the ORM's bulk-insert machinery.
    # Values are bound at execution, so one statement (compiled once) serves every call.
    core = table.__table__  # type: ignore[attr-defined]
    return insert_for(core).on_conflict_do_nothing().returning(*core.primary_key.columns)


def claim_dataset(session: Session, *, values: dict[str, Any]) -> tuple[Dataset, bool]:
    """Insert a dataset unless its sha256 is known; (row, inserted). Its uploads are
    upload_repo's."""
    inserted = insert_ignore(session, Dataset, {"created_at": utcnow(), **values})
    row = session.scalar(select(Dataset).where(Dataset.sha256 == values["sha256"]))
    assert row is not None
    return row, inserted


def get_dataset(session: Session, *, dataset_id: int) -> Dataset | None:
    return session.get(Dataset, dataset_id)


def held_out_part(session: Session, *, dataset_id: int) -> Dataset | None:
    """The share set aside with `split=` when `dataset_id` was added (the newest, if several)."""
    return session.scalars(
        select(Dataset)
        .where(Dataset.validation_for_id == dataset_id)
        .order_by(Dataset.id.desc())
        .limit(1)
    ).first()


def list_datasets(session: Session, *, limit: int = 20) -> list[Dataset]:
    """The newest datasets, each with its uploads (`Dataset.uploads`) loaded."""
    query = select(Dataset).options(selectinload(Dataset.uploads))
    return list(session.scalars(query.order_by(Dataset.id.desc()).limit(limit)).all())
