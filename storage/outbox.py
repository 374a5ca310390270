"""The outbox: Slack messages written with the change that caused them, sent and retried once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Outbox, utcnow
from storage.repo import insert_ignore


def enqueue(
    session: Session, *, dedupe_key: str, kind: str, channel: str, payload: dict[str, Any]
) -> bool:
    """Add a message unless one with this key exists (a warning is sent once, ever)."""
    return insert_ignore(
        session,
        Outbox,
        {
            "dedupe_key": dedupe_key,
            "kind": kind,
            "channel": channel,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "not_before": utcnow(),
            "created_at": utcnow(),
        },
    )


def due_ids(session: Session, *, now: datetime, limit: int = 50) -> list[int]:
    rows = session.scalars(
        select(Outbox.id).where(_claimable(now)).order_by(Outbox.id).limit(limit)
    )
    return list(rows)


def claim(session: Session, *, outbox_id: int, now: datetime, lease: timedelta) -> Outbox | None:
    """Take one message for sending; None if another sender has it (or it went out)."""
    result = session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id, _claimable(now))
        .values(status="sending", lease_until=now + lease, attempts=Outbox.attempts + 1)
    )
    if not cast(CursorResult[Any], result).rowcount:
        return None
    return session.get(Outbox, outbox_id, populate_existing=True)


def save_progress(session: Session, *, outbox_id: int, payload: dict[str, Any]) -> None:
    """Remember a finished step (e.g. the posted message's ts) before the next one."""
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(payload=payload))


def mark_sent(session: Session, *, outbox_id: int) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id)
        .values(status="sent", sent_at=utcnow(), lease_until=None, last_error=None)
    )


def mark_retry(session: Session, *, outbox_id: int, error: str, not_before: datetime) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id == outbox_id, Outbox.status == "sending")
        .values(status="pending", last_error=error[:500], not_before=not_before, lease_until=None)
    )


def pending(session: Session) -> list[Outbox]:
    return list(session.scalars(select(Outbox).where(Outbox.status != "sent").order_by(Outbox.id)))


def _claimable(now: datetime) -> Any:
    # A "sending" row whose lease ran out belongs to a sender that crashed mid-way.
    return or_(
        and_(Outbox.status == "pending", Outbox.not_before <= now),
        and_(Outbox.status == "sending", Outbox.lease_until < now),
    )
