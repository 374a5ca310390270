"""The local trainer's queue: runs claimed under a lease, each transition a guarded UPDATE."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session

from storage.models import TrainingEvent, TrainingRun, utcnow

# A run whose trainer vanished (lease expired) is tried once more, then failed.
MAX_ATTEMPTS = 2


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


def queue_run(session: Session, *, values: dict[str, Any]) -> TrainingRun:
    run = TrainingRun(
        status=RunStatus.QUEUED, attempts=0, cancel_requested=False, created_at=utcnow(), **values
    )
    session.add(run)
    session.flush()
    record_event(session, run_id=run.id, type="status", message="Queued for the local trainer.")
    return run


def get_run(session: Session, *, run_id: int) -> TrainingRun | None:
    return session.get(TrainingRun, run_id, populate_existing=True)


def _expired(now: datetime) -> Any:
    return and_(TrainingRun.status == RunStatus.RUNNING, TrainingRun.lease_until < now)


def _claimable(now: datetime) -> Any:
    return and_(
        TrainingRun.cancel_requested.is_(False),
        or_(
            TrainingRun.status == RunStatus.QUEUED,
            and_(_expired(now), TrainingRun.attempts < MAX_ATTEMPTS),
        ),
    )


def fail_abandoned(session: Session, *, now: datetime) -> list[int]:
    """Fail runs whose trainer vanished on their last attempt (or that were cancelled then)."""
    stale = session.scalars(
        select(TrainingRun.id).where(
            _expired(now),
            or_(TrainingRun.attempts >= MAX_ATTEMPTS, TrainingRun.cancel_requested.is_(True)),
        )
    ).all()
    done = []
    for run_id in stale:
        row = session.get(TrainingRun, run_id, populate_existing=True)
        cancelled = bool(row and row.cancel_requested)
        status = RunStatus.CANCELLED if cancelled else RunStatus.FAILED
        reason = (
            "Cancelled; its trainer had stopped."
            if cancelled
            else f"The trainer stopped responding {MAX_ATTEMPTS} times while training this job "
            "(it was killed or its machine went away); the job was not retried again."
        )
        result = session.execute(
            update(TrainingRun)
            .where(TrainingRun.id == run_id, _expired(now))
            .values(
                status=status,
                error=None if cancelled else reason,
                finished_at=now,
                lease_owner=None,
                lease_until=None,
            )
        )
        if cast(CursorResult[Any], result).rowcount:
            level = "info" if cancelled else "error"
            record_event(session, run_id=run_id, type="status", message=reason, level=level)
            done.append(run_id)
    return done


def claim_next(
    session: Session, *, owner: str, now: datetime, lease: timedelta
) -> TrainingRun | None:
    """Take the oldest claimable run for `owner`; None when there is none (or another won it)."""
    fail_abandoned(session, now=now)
    query = select(TrainingRun.id).where(_claimable(now)).order_by(TrainingRun.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        # Two trainers never wait on, or both take, the same row.
        query = query.with_for_update(skip_locked=True)
    run_id = session.scalar(query)
    if run_id is None:
        return None
    result = session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id, _claimable(now))
        .values(
            status=RunStatus.RUNNING,
            lease_owner=owner,
            lease_until=now + lease,
            heartbeat_at=now,
            attempts=TrainingRun.attempts + 1,
            started_at=now,
        )
    )
    if not cast(CursorResult[Any], result).rowcount:
        return None
    run = session.get(TrainingRun, run_id, populate_existing=True)
    assert run is not None
    notes = [f"attempt {run.attempts}"] if run.attempts > 1 else []
    if run.checkpoint:
        notes.append(f"from {_short(run.checkpoint)}")
    again = f" ({', '.join(notes)})" if notes else ""
    record_event(session, run_id=run_id, type="status", message=f"Training started{again}.")
    return run


def heartbeat(
    session: Session, *, run_id: int, owner: str, now: datetime, lease: timedelta
) -> tuple[bool, bool]:
    """Extend the lease: (still ours, cancel requested)."""
    result = session.execute(
        update(TrainingRun)
        .where(
            TrainingRun.id == run_id,
            TrainingRun.lease_owner == owner,
            TrainingRun.status == RunStatus.RUNNING,
        )
        .values(lease_until=now + lease, heartbeat_at=now)
    )
    held = bool(cast(CursorResult[Any], result).rowcount)
    cancel = session.scalar(select(TrainingRun.cancel_requested).where(TrainingRun.id == run_id))
    return held, bool(cancel)


def update_run(session: Session, *, run_id: int, owner: str, values: dict[str, Any]) -> bool:
    """Progress, checkpoint or token count, written only while `owner` holds the run."""
    result = session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id, TrainingRun.lease_owner == owner)
        .values(**values)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


def finish(
    session: Session,
    *,
    run_id: int,
    owner: str,
    status: RunStatus,
    message: str,
    error: str | None = None,
    trained_tokens: int | None = None,
) -> bool:
    """Running -> succeeded | failed | cancelled, once, by the trainer that holds it."""
    values: dict[str, Any] = {
        "status": status,
        "error": error,
        "finished_at": utcnow(),
        "lease_owner": None,
        "lease_until": None,
    }
    if trained_tokens is not None:
        values["trained_tokens"] = trained_tokens
    result = session.execute(
        update(TrainingRun)
        .where(
            TrainingRun.id == run_id,
            TrainingRun.lease_owner == owner,
            TrainingRun.status == RunStatus.RUNNING,
        )
        .values(**values)
    )
    done = bool(cast(CursorResult[Any], result).rowcount)
    if done:
        level = "error" if status == RunStatus.FAILED else "info"
        record_event(session, run_id=run_id, type="status", message=message, level=level)
    return done


def requeue(session: Session, *, run_id: int, owner: str, message: str) -> bool:
    """Back to the queue after a clean stop; the attempt does not count against it."""
    result = session.execute(
        update(TrainingRun)
        .where(
            TrainingRun.id == run_id,
            TrainingRun.lease_owner == owner,
            TrainingRun.status == RunStatus.RUNNING,
        )
        .values(
            status=RunStatus.QUEUED,
            lease_owner=None,
            lease_until=None,
            attempts=TrainingRun.attempts - 1,
        )
    )
    done = bool(cast(CursorResult[Any], result).rowcount)
    if done:
        record_event(session, run_id=run_id, type="status", message=message)
    return done


def request_cancel(session: Session, *, run_id: int) -> None:
    """A queued run is cancelled now; a running one at its trainer's next step."""
    result = session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id, TrainingRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.CANCELLED, cancel_requested=True, finished_at=utcnow())
    )
    if cast(CursorResult[Any], result).rowcount:
        record_event(session, run_id=run_id, type="status", message="Cancelled before it started.")
        return
    session.execute(
        update(TrainingRun)
        .where(TrainingRun.id == run_id, TrainingRun.status == RunStatus.RUNNING)
        .values(cancel_requested=True)
    )


def record_event(
    session: Session,
    *,
    run_id: int,
    type: str,
    message: str,
    level: str = "info",
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        TrainingEvent(
            run_id=run_id,
            created_at=utcnow(),
            level=level,
            type=type,
            message=message[:2000],
            data=data,
        )
    )
    session.flush()


def events(session: Session, *, run_id: int, after: int | None = None) -> list[TrainingEvent]:
    query = select(TrainingEvent).where(TrainingEvent.run_id == run_id)
    if after is not None:
        query = query.where(TrainingEvent.id > after)
    return list(session.scalars(query.order_by(TrainingEvent.id)))


def _short(path: str | None) -> str:
    return path.rsplit("/", 1)[-1] if path else "the start"
