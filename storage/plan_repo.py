"""Job plan messages: where each is, which version it shows, and who may edit it now.

One sender at a time edits a plan message: the one whose outbox message holds `editor`.
Another takes over only when that outbox message is no longer being sent (it went out, or
failed and waits for a retry), so two schedulers never edit one message at once and a newer
version shown is never overwritten by an older one.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, exists, or_, update
from sqlalchemy.orm import Session

from storage.models import JobPlan, Outbox, utcnow
from storage.repo import insert_ignore


def take(session: Session, *, job_id: int, channel_id: str, outbox_id: int) -> JobPlan | None:
    """Become the plan's editor for the outbox message `outbox_id`; its row, or None while
    another sender edits it."""
    if insert_ignore(
        session,
        JobPlan,
        {
            "job_id": job_id,
            "channel_id": channel_id,
            "shown_version": 0,
            "editor": outbox_id,
            "updated_at": utcnow(),
        },
    ):
        return session.get(JobPlan, job_id)
    busy = exists().where(Outbox.id == JobPlan.editor, Outbox.status == "sending")
    result = session.execute(
        update(JobPlan)
        .where(
            JobPlan.job_id == job_id,
            or_(JobPlan.editor.is_(None), JobPlan.editor == outbox_id, ~busy),
        )
        .values(editor=outbox_id)
    )
    if not cast(CursorResult[Any], result).rowcount:
        return None
    return session.get(JobPlan, job_id, populate_existing=True)


def sending(session: Session, *, job_id: int, outbox_id: int, version: int) -> None:
    """Said before a post or an edit: until it is recorded, `version` may be what Slack shows."""
    _as_editor(session, job_id, outbox_id, sending_version=version)


def record(
    session: Session, *, job_id: int, outbox_id: int, version: int, ts: str | None = None
) -> None:
    """The message now shows `version` (and, after its post, is at `ts`)."""
    values: dict[str, Any] = {"shown_version": version, "sending_version": None}
    if ts is not None:
        values["ts"] = ts
    _as_editor(session, job_id, outbox_id, **values)


def release(session: Session, *, job_id: int, outbox_id: int) -> None:
    _as_editor(session, job_id, outbox_id, editor=None)


def _as_editor(session: Session, job_id: int, outbox_id: int, **values: Any) -> None:
    session.execute(
        update(JobPlan)
        .where(JobPlan.job_id == job_id, JobPlan.editor == outbox_id)
        .values(updated_at=utcnow(), **values)
    )
