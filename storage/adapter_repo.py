"""Trained adapters after training: which tunebot no longer serves, and whose folder goes.

A succeeded run's adapter is retired the first time it is served nowhere (`retired_at`),
taken back if it is served again, and its folder's removal is claimed once, after the
retention period (`removed_at`), by one guarded UPDATE: two schedulers never both remove it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from storage.models import TrainingRun
from storage.training_repo import RunStatus


@dataclass(frozen=True)
class Retired:
    run_id: int
    adapter: str
    retired_at: datetime
    removed_at: datetime | None


def note_serving(session: Session, *, serving: Collection[str], now: datetime) -> None:
    """Retire every succeeded adapter not in `serving`; take back those in it, folder kept."""
    names = sorted(set(serving))
    if names:
        session.execute(
            update(TrainingRun)
            .where(
                TrainingRun.adapter_name.in_(names),
                TrainingRun.retired_at.is_not(None),
                TrainingRun.removed_at.is_(None),
            )
            .values(retired_at=None)
        )
    unserved = update(TrainingRun).where(
        TrainingRun.status == RunStatus.SUCCEEDED,
        TrainingRun.retired_at.is_(None),
        TrainingRun.removed_at.is_(None),
    )
    if names:
        unserved = unserved.where(TrainingRun.adapter_name.not_in(names))
    session.execute(unserved.values(retired_at=now))


def retired(session: Session) -> list[Retired]:
    """Every retired adapter, its folder removed or not, oldest first."""
    runs = session.scalars(
        select(TrainingRun)
        .where(TrainingRun.retired_at.is_not(None))
        .order_by(TrainingRun.retired_at, TrainingRun.id)
    )
    return [
        Retired(run.id, run.adapter_name, run.retired_at, run.removed_at)
        for run in runs
        if run.retired_at is not None
    ]


def claim_removal(
    session: Session, *, run_id: int, retired_before: datetime, now: datetime
) -> bool:
    """Whether this caller removes the run's folder: True once, for the one UPDATE that won."""
    result = session.execute(
        update(TrainingRun)
        .where(
            TrainingRun.id == run_id,
            TrainingRun.removed_at.is_(None),
            TrainingRun.retired_at <= retired_before,
        )
        .values(removed_at=now)
    )
    return bool(cast(CursorResult[Any], result).rowcount)
