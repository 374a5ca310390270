"""Tables: the active model and its history, conversation turns, processed Slack events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ActiveModel(Base):
    """One row (id 1): the model every replica answers with. Swapped by a guarded UPDATE."""

    __tablename__ = "active_model"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    history_id: Mapped[int] = mapped_column(Integer)


class ModelHistory(Base):
    """Every switch of the active model: what, when, and who or which job caused it."""

    __tablename__ = "model_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(255))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    set_by_user: Mapped[str | None] = mapped_column(String(64))
    set_by_job: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(64))


class Turn(Base):
    """One question answered (or not) in Slack."""

    __tablename__ = "turns"
    __table_args__ = (Index("ix_turns_channel_thread", "channel_id", "thread_ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    error_ref: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SlackEvent(Base):
    """Events already taken: a retry or a twin event (app_mention + message) is dropped."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_key: Mapped[str | None] = mapped_column(String(96), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


__all__ = ["ActiveModel", "Base", "ModelHistory", "SlackEvent", "Turn", "utcnow"]
