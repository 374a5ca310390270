"""Who opened the Home tab, and which of them a change should refresh."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import HomeTab, ModelHistory
from storage.repo import insert_ignore


def latest_switch(session: Session) -> int:
    """The id of the newest model switch (0 before the first)."""
    return int(session.scalar(select(func.max(ModelHistory.id))) or 0)


def opened(session: Session, *, user_id: str, is_admin: bool, now: datetime) -> None:
    """Someone opened the Home tab; the view about to be published shows the newest switch."""
    values = {"is_admin": is_admin, "opened_at": now, "switch_seen": latest_switch(session)}
    if not insert_ignore(session, HomeTab, {"user_id": user_id, **values}):
        session.execute(update(HomeTab).where(HomeTab.user_id == user_id).values(**values))


def admins(session: Session, *, since: datetime) -> list[str]:
    """Admins who opened the Home tab since `since`: whose dashboard a job's change refreshes."""
    query = select(HomeTab.user_id).where(HomeTab.is_admin, HomeTab.opened_at >= since)
    return list(session.scalars(query.order_by(HomeTab.user_id)))


def claim_switch(session: Session, *, switch_id: int, since: datetime) -> list[str]:
    """Everyone who opened the Home tab since `since` and has not been refreshed for switch
    `switch_id` yet; each is returned to one caller only."""
    claimed = session.execute(
        update(HomeTab)
        .where(HomeTab.switch_seen < switch_id, HomeTab.opened_at >= since)
        .values(switch_seen=switch_id)
        .returning(HomeTab.user_id)
    )
    return sorted(claimed.scalars())
