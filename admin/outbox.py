"""Draining the outbox: claim each due message, hand it to the Notifier, mark it or retry it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from storage import outbox
from storage.db import SessionFactory

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(minutes=10)


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    kind: str
    channel: str
    payload: dict[str, Any]
    attempts: int


class Notifier(Protocol):
    def deliver(self, message: OutgoingMessage, save: Callable[[dict[str, Any]], None]) -> None:
        """Send it; call `save(payload)` after each step so a retry resumes, not repeats."""
        ...


class RetryLater(Exception):
    """The Notifier could not send now (e.g. Slack 429); `after` seconds is a hint."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


def drain_outbox(session_factory: SessionFactory, notifier: Notifier, *, now: datetime) -> int:
    """Send what is due; returns how many went out. Several drainers can run at once."""
    with session_factory() as session:
        ids = outbox.due_ids(session, now=now)
    sent = 0
    for outbox_id in ids:
        with session_factory.begin() as session:
            row = outbox.claim(session, outbox_id=outbox_id, now=now, lease=LEASE)
            if row is None:
                continue
            message = OutgoingMessage(
                row.id, row.kind, row.channel, dict(row.payload), row.attempts
            )

        def save(payload: dict[str, Any], outbox_id: int = outbox_id) -> None:
            with session_factory.begin() as session:
                outbox.save_progress(session, outbox_id=outbox_id, payload=payload)

        try:
            notifier.deliver(message, save)
        except Exception as error:
            delay = _backoff(message.attempts, getattr(error, "after", None))
            log.warning("notification %s not sent (%s); retrying in %s", outbox_id, error, delay)
            with session_factory.begin() as session:
                outbox.mark_retry(
                    session, outbox_id=outbox_id, error=str(error)[:500], not_before=now + delay
                )
            continue
        with session_factory.begin() as session:
            outbox.mark_sent(session, outbox_id=outbox_id)
        sent += 1
    return sent


def _backoff(attempts: int, hint: float | None) -> timedelta:
    if hint:
        return timedelta(seconds=hint)
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 10)))
