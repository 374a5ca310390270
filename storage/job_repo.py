"""Jobs, their events, and the audit log: guarded stage changes make every outcome happen once.

The stages themselves, and which moves are allowed, are admin.job_stages'; this module stores
their values and moves a row only from the stage its caller read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from storage.models import AuditEntry, Job, JobEventRow
from storage.repo import insert_ignore


def create_job(session: Session, *, values: dict[str, Any]) -> Job:
    """A new job; `values` include its first stage (admin.job_stages owns the stage names)."""
    job = Job(**values)
    session.add(job)
    session.flush()
    return job


def find_job(session: Session, *, ref: str) -> Job | None:
    """A job by `job-3`, `3`, or the provider's id."""
    key = ref.strip().lower().removeprefix("job-")
    if key.isdigit():
        return session.get(Job, int(key))
    return session.scalar(select(Job).where(Job.provider_job_id == ref.strip()))


def list_jobs(session: Session, *, limit: int = 20) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)).all())


def open_jobs(session: Session, *, stages: Iterable[str]) -> list[Job]:
    """Jobs in `stages`: those whose outcome tunebot has not finished carrying out."""
    return list(session.scalars(select(Job).where(Job.stage.in_(tuple(stages))).order_by(Job.id)))


def update_job(session: Session, *, job_id: int, values: dict[str, Any]) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(**values))


def advance_stage(
    session: Session, *, job_id: int, from_stages: Iterable[str], to_stage: str, **values: Any
) -> bool:
    """Move a job on only from the expected stage; True for the one caller that did."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.stage.in_(tuple(from_stages)))
        .values(stage=to_stage, **values)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


def store_events(session: Session, *, job_id: int, events: Iterable[dict[str, Any]]) -> int:
    """Insert events not seen before; returns how many were new."""
    return sum(insert_ignore(session, JobEventRow, {"job_id": job_id, **event}) for event in events)


def job_events(session: Session, *, job_id: int, limit: int = 20) -> list[JobEventRow]:
    rows = session.scalars(
        select(JobEventRow)
        .where(JobEventRow.job_id == job_id)
        .order_by(JobEventRow.created_at.desc(), JobEventRow.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def jobs_for_models(session: Session, *, models: Iterable[str]) -> dict[str, Job]:
    names = tuple(models)
    rows = session.scalars(
        select(Job).where(or_(Job.fine_tuned_model.in_(names), Job.callable_model.in_(names)))
    ).all()
    found: dict[str, Job] = {}
    for row in rows:
        for name in (row.fine_tuned_model, row.callable_model):
            if name:
                found[name] = row
    return found


def record_audit(session: Session, *, user_id: str, action: str, detail: str, outcome: str) -> None:
    session.add(
        AuditEntry(user_id=user_id, action=action, detail=detail[:2000], outcome=outcome[:500])
    )


def audit_log(session: Session, *, limit: int = 50) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))
