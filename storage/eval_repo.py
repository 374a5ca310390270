"""Evaluations and their answers: a guarded lease decides who answers, answers are kept once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from storage.models import EvalAnswer, Evaluation, utcnow
from storage.repo import insert_ignore

RUNNING = "running"
DONE = "done"


def create_evaluation(session: Session, *, values: dict[str, Any]) -> Evaluation | None:
    """Insert an evaluation unless one with this key exists; the row, or None if it existed."""
    inserted = insert_ignore(
        session,
        Evaluation,
        {
            "status": RUNNING,
            "failures": 0,
            "busy_seconds": 0.0,
            "created_at": utcnow(),
            **values,
        },
    )
    return find(session, key=values["key"]) if inserted else None


def find(session: Session, *, key: str) -> Evaluation | None:
    return session.scalar(select(Evaluation).where(Evaluation.key == key))


def for_job(session: Session, *, job_id: int) -> list[Evaluation]:
    """A job's evaluations, newest first."""
    return list(
        session.scalars(
            select(Evaluation).where(Evaluation.job_id == job_id).order_by(Evaluation.id.desc())
        )
    )


def take_lease(session: Session, *, evaluation_id: int, now: datetime, lease: timedelta) -> bool:
    """Become the one runner of a running evaluation; False while another holds it."""
    result = session.execute(
        update(Evaluation)
        .where(
            Evaluation.id == evaluation_id,
            Evaluation.status == RUNNING,
            or_(Evaluation.lease_until.is_(None), Evaluation.lease_until < now),
        )
        .values(lease_until=now + lease)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


def extend_lease(session: Session, *, evaluation_id: int, until: datetime) -> None:
    session.execute(
        update(Evaluation)
        .where(Evaluation.id == evaluation_id, Evaluation.status == RUNNING)
        .values(lease_until=until)
    )


def end_run(
    session: Session, *, evaluation_id: int, seconds: float, error: str | None = None
) -> int:
    """Give the lease back after a run; with `error`, count a failure. Returns the failures."""
    values: dict[str, Any] = {
        "lease_until": None,
        "busy_seconds": Evaluation.busy_seconds + seconds,
    }
    if error is not None:
        values |= {"failures": Evaluation.failures + 1, "last_error": error[:500]}
    session.execute(
        update(Evaluation)
        .where(Evaluation.id == evaluation_id, Evaluation.status == RUNNING)
        .values(**values)
    )
    row = session.get(Evaluation, evaluation_id, populate_existing=True)
    return row.failures if row is not None else 0


def finish(
    session: Session,
    *,
    evaluation_id: int,
    verdict: str | None,
    report: dict[str, Any],
    seconds: float,
    now: datetime,
) -> bool:
    """Record the outcome; True for the one caller that did (the one that announces it)."""
    result = session.execute(
        update(Evaluation)
        .where(Evaluation.id == evaluation_id, Evaluation.status == RUNNING)
        .values(
            status=DONE,
            verdict=verdict,
            report=report,
            lease_until=None,
            busy_seconds=Evaluation.busy_seconds + seconds,
            finished_at=now,
        )
    )
    return bool(cast(CursorResult[Any], result).rowcount)


def store_answer(session: Session, *, values: dict[str, Any]) -> bool:
    """Keep an answer unless (evaluation, example, side) is already stored."""
    return insert_ignore(session, EvalAnswer, {"created_at": utcnow(), **values})


def answers(session: Session, *, evaluation_id: int) -> list[EvalAnswer]:
    return list(
        session.scalars(
            select(EvalAnswer)
            .where(EvalAnswer.evaluation_id == evaluation_id)
            .order_by(EvalAnswer.example, EvalAnswer.side)
        )
    )
