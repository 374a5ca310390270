"""Queries for the active model and its history, turns, claimed Slack events and datasets, and
the shared insert-or-ignore; the other tables have their own *_repo modules. Callers own the
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, Executable, Table, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from storage.models import ActiveModel, Dataset, ModelHistory, SlackEvent, Turn, utcnow

ACTIVE_ROW = 1


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

    @property
    def model(self) -> str:
        return self.ref.model


# Read on every message. Statements built once are compiled once: SQLAlchemy memoises a
# statement's cache key on the object, where a statement rebuilt per call is traversed again.
_ACTIVE_MODEL = select(ActiveModel.provider, ActiveModel.model).where(ActiveModel.id == ACTIVE_ROW)


def get_active_model(session: Session, *, default: ModelRef) -> ModelRef:
    """The model to answer with: the stored one, or `default` until anything is stored."""
    row = session.execute(_ACTIVE_MODEL).first()
    return ModelRef(row.provider, row.model) if row is not None else default


def set_active_model(
    session: Session,
    *,
    model: ModelRef,
    reason: str,
    set_by_user: str | None = None,
    set_by_job: str | None = None,
    expected: ModelRef | None = None,
) -> bool:
    """Make `model` active; True if this call changed it (so the caller announces it once).

    With `expected`, change it only if `expected` is still the active model (a fallback
    must not undo a swap another replica just made).
    """
    history = ModelHistory(
        provider=model.provider,
        model=model.model,
        set_by_user=set_by_user,
        set_by_job=set_by_job,
        reason=reason,
    )
    session.add(history)
    session.flush()
    now = utcnow()
    guards = [
        ActiveModel.id == ACTIVE_ROW,
        ~((ActiveModel.model == model.model) & (ActiveModel.provider == model.provider)),
    ]
    if expected is not None:
        guards += [ActiveModel.model == expected.model, ActiveModel.provider == expected.provider]
    result = session.execute(
        update(ActiveModel)
        .where(*guards)
        .values(provider=model.provider, model=model.model, since=now, history_id=history.id)
    )
    changed = cast(CursorResult[Any], result).rowcount
    if changed:
        return True
    if expected is not None or session.get(ActiveModel, ACTIVE_ROW) is not None:
        session.delete(history)
        return False
    inserted = insert_ignore(
        session,
        ActiveModel,
        {
            "id": ACTIVE_ROW,
            "provider": model.provider,
            "model": model.model,
            "since": now,
            "history_id": history.id,
        },
    )
    if not inserted:
        session.delete(history)
    return inserted


def model_history(session: Session, *, limit: int = 50) -> list[ModelSwitch]:
    rows = session.scalars(select(ModelHistory).order_by(ModelHistory.id.desc()).limit(limit)).all()
    return [
        ModelSwitch(
            ModelRef(r.provider, r.model), r.activated_at, r.set_by_user, r.set_by_job, r.reason
        )
        for r in rows
    ]


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
