"""APScheduler 3: the poll tick every TUNEBOT_POLL_SECONDS, the daily shutdown check and expiry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from admin.feedback import forget_old_texts
from admin.lifecycle import check_shutdown
from admin.poller import PollerDeps, tick
from storage.repo import ModelRef

log = logging.getLogger(__name__)


def build_scheduler(
    deps: PollerDeps,
    *,
    poll_seconds: int,
    default_model: ModelRef,
    feedback_keep_days: int = 90,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BaseScheduler:
    """The scheduler, jobs added, not started. Several may run against one database."""
    scheduler: BaseScheduler = BackgroundScheduler(timezone=UTC)

    def poll() -> None:
        report = tick(deps)
        if report.polled or report.sent:
            log.info(
                "tick: %d jobs polled, %d live, %d finished, %d errors, %d messages sent",
                report.polled,
                len(report.went_live),
                len(report.finished),
                report.errors,
                report.sent,
            )

    def shutdown_check() -> None:
        check_shutdown(
            deps.session_factory,
            deps.providers,
            default_model=default_model,
            notify_channel=deps.notify_channel,
            today=now().date(),
        )

    def expire_feedback() -> None:
        emptied = forget_old_texts(deps.session_factory, keep_days=feedback_keep_days, now=now())
        if emptied:
            log.info(
                "feedback: deleted the texts of %d answers older than %d days",
                emptied,
                feedback_keep_days,
            )

    # One tick at a time per process, and a late tick is skipped rather than piled up.
    scheduler.add_job(
        poll,
        "interval",
        seconds=poll_seconds,
        id="poll",
        max_instances=1,
        coalesce=True,
        next_run_time=now(),
    )
    scheduler.add_job(
        shutdown_check,
        "interval",
        hours=24,
        id="shutdown_check",
        max_instances=1,
        coalesce=True,
        next_run_time=now(),
    )
    scheduler.add_job(
        expire_feedback,
        "interval",
        hours=24,
        id="expire_feedback",
        max_instances=1,
        coalesce=True,
        next_run_time=now(),
    )
    return scheduler
