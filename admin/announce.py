"""The one way tunebot tells people something that must be said once: a row in the outbox,
written in the transaction of the change it is about, sent (and retried) by whoever drains it.

Every message about a job, a model or the bot's spending leaves through `about_job`, `post`,
`job_plan` or `refresh_home`; nothing else writes to the outbox. The dedupe key makes a second
attempt (two schedulers, a crash between the change and the send) a no-op.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from storage import outbox
from storage.models import Job

Payload = dict[str, Any]  # "text", "chart" (loss points or None), optional "blocks"


class Kind(StrEnum):
    """What a message is about; also the middle of a job message's dedupe key."""

    JOB_LIVE = "job_live"
    JOB_HELD_BACK = "job_held_back"
    JOB_FAILED = "job_failed"
    JOB_CANCELLED = "job_cancelled"
    JOB_PROMOTED = "job_promoted"
    DEPLOY_CONFIRM = "deploy_confirm"
    DEPLOY_WAITING = "deploy_waiting"
    SHUTDOWN = "shutdown"
    FALLBACK = "fallback"
    JOB_PLAN = "job_plan"  # a new version of the job's one plan message, edited in place
    HOME_REFRESH = "home_refresh"  # publish someone's Home tab again
    BUDGET = "budget"  # this month's spend reached 80% or 100% of the budget


def recipients(job: Job, notify_channel: str | None) -> list[str]:
    """The team's channel (if configured) and the admin who started the job, by DM."""
    return [c for c in (notify_channel, job.started_by) if c]


def about_job(
    session: Session,
    job: Job,
    kind: Kind,
    payload: Payload,
    *,
    notify_channel: str | None,
    to_admin: bool = True,
) -> int:
    """Queue `payload` for the notify channel and (unless `to_admin` is False) the admin who
    started `job`, once each; returns how many were new."""
    channels = recipients(job, notify_channel) if to_admin else [notify_channel]
    return sum(
        post(
            session,
            key=f"{job.label}:{kind}:{channel}",
            kind=kind,
            channel=channel,
            payload=payload,
        )
        for channel in channels
        if channel
    )


def post(session: Session, *, key: str, kind: Kind, channel: str | None, payload: Payload) -> bool:
    """Queue one message under `key`; False when it was queued before (or there is no channel)."""
    if not channel:
        return False
    return outbox.enqueue(
        session, dedupe_key=key, kind=str(kind), channel=channel, payload=dict(payload)
    )


def text(message: str) -> Payload:
    """A plain message: text, no chart, no blocks."""
    return {"text": message, "chart": None}


def job_plan(session: Session, job: Job, payload: Payload, *, version: int) -> bool:
    """Queue version `version` of `job`'s plan for the admin who started it, once per version."""
    return post(
        session,
        key=f"{job.label}:plan:{version}",
        kind=Kind.JOB_PLAN,
        channel=job.started_by,
        payload=payload,
    )


def refresh_home(session: Session, users: Iterable[str], *, reason: str) -> int:
    """Queue a Home tab refresh for each of `users`, once per `reason`; how many were new."""
    return sum(
        post(session, key=f"home:{user}:{reason}", kind=Kind.HOME_REFRESH, channel=user, payload={})
        for user in users
    )
