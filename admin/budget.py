"""The monthly budget (TUNEBOT_MONTHLY_BUDGET_USD): this month's spend as each process last read
it, the notices at 80% and 100%, and what people are told once it is spent.

The reply's path never queries for it: it asks `SpendGauge.is_spent()`, which reads what this
process last computed. A background thread recomputes that every REFRESH_SECONDS (the paid
deployments are listed again every DEPLOYMENTS_SECONDS; their cost so far is recomputed each
time), so a process learns that the budget is spent within about REFRESH_SECONDS of the answer
that spent it being recorded. The scheduler's tick recomputes it too and queues the notices:
one per threshold, month and budget amount, for the notify channel and each admin by DM; the
outbox's dedupe key makes a second scheduler, a crash or a restart a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from admin import announce
from admin.providers.registry import Providers
from admin.usage import (
    MonthSpend,
    RunningDeployment,
    month_spend,
    next_month,
    running_deployments,
    usd,
)
from storage.db import SessionFactory
from storage.models import utcnow
from storage.repo import ModelRef

log = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0
DEPLOYMENTS_SECONDS = 300.0
# Said once each; when both are crossed between two reads, only the higher one is said.
THRESHOLDS = (100, 80)


@dataclass(frozen=True)
class Budget:
    limit_usd: float
    fallback: ModelRef | None  # what answers once it is spent; None: nothing does
    admins: frozenset[str]  # who can raise it, and who is told by DM
    notify_channel: str | None

    def percent(self, spend: MonthSpend) -> float:
        return spend.total_usd / self.limit_usd * 100


class SpendGauge:
    """This month's spend as this process last computed it, and whether the budget is spent."""

    def __init__(
        self,
        budget: Budget,
        session_factory: SessionFactory,
        providers: Providers,
        *,
        clock: Callable[[], datetime] = utcnow,
        every: float = REFRESH_SECONDS,
        deployments_every: float = DEPLOYMENTS_SECONDS,
    ) -> None:
        self.budget = budget
        self.session_factory = session_factory
        self.providers = providers
        self.clock = clock
        self._every = every
        self._deployments_every = deployments_every
        self._latest: MonthSpend | None = None
        # Set by a reading that found the budget spent: the start of the next month.
        self._spent_until: datetime | None = None
        self._deployments: list[RunningDeployment] = []
        self._listed_at: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> MonthSpend:
        """Compute this month's spend now (listing the deployments again when that is due)."""
        with self._lock:
            listed = self._listed_at
            if listed is None or time.monotonic() - listed >= self._deployments_every:
                self._deployments = running_deployments(self.providers)
                self._listed_at = time.monotonic()
            now = self.clock()
            spend = month_spend(
                self.session_factory, self.providers.answer_price, self._deployments, now=now
            )
            self._latest = spend
            self._spent_until = (
                next_month(now) if spend.total_usd >= self.budget.limit_usd else None
            )
        return spend

    @property
    def latest(self) -> MonthSpend | None:
        return self._latest

    def is_spent(self) -> bool:
        """Whether this month's spend, as last computed, has reached the budget. Nothing is
        queried: this is on every answer's path."""
        until = self._spent_until
        # Not read yet, or spent in a month that has ended: a new month starts from nothing.
        return until is not None and self.clock() < until

    def start(self) -> None:
        """Compute it once now, then every REFRESH_SECONDS in the background until close()."""
        self._refresh_safely()
        self._thread = threading.Thread(target=self._run, name="tunebot-spend", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._refresh_safely()

    def _refresh_safely(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.exception("reading this month's spend failed; the last reading stands")


def notify(gauge: SpendGauge) -> int:
    """Queue the notice of the highest threshold this month's spend has reached, for the notify
    channel and each admin by DM, once per month and budget amount; how many were new."""
    budget, spend = gauge.budget, gauge.refresh()
    percent = budget.percent(spend)
    reached = next((t for t in THRESHOLDS if percent >= t), None)
    if reached is None:
        return 0
    text = _notice(gauge, spend, reached, percent)
    recipients = [r for r in (budget.notify_channel, *sorted(budget.admins)) if r]
    key = f"budget:{spend.month}:{budget.limit_usd:g}:{reached}"
    with gauge.session_factory.begin() as session:
        return sum(
            announce.post(
                session,
                key=f"{key}:{recipient}",
                kind=announce.Kind.BUDGET,
                channel=recipient,
                payload=announce.text(text),
            )
            for recipient in recipients
        )


def spent_line(budget: Budget, *, now: datetime) -> str:
    """What someone asking is told once the budget is spent and nothing else answers."""
    who = " or ".join(f"<@{admin}>" for admin in sorted(budget.admins)) or "Whoever runs tunebot"
    return (
        "This month's budget for tunebot is spent, so I can't answer until it starts again "
        f"on {next_month(now):%Y-%m-%d} (UTC). {who} can raise it."
    )


def _notice(gauge: SpendGauge, spend: MonthSpend, reached: int, percent: float) -> str:
    budget = gauge.budget
    resets = f"{next_month(gauge.clock()):%Y-%m-%d}"
    if budget.fallback is not None:
        then = (
            f"answers come from `{budget.fallback.model}` at "
            f"{gauge.providers.label(budget.fallback.provider)}"
        )
    else:
        then = "tunebot tells people the budget is spent instead of answering"
    parts = [
        f"answers {usd(spend.tokens.usd)}",
        f"training {usd(spend.training_usd)}",
        f"paid deployments {usd(spend.deployments_usd)}",
    ]
    unknown = []
    if spend.tokens.unpriced_tokens:
        unknown.append(f"{spend.tokens.unpriced_tokens:,} tokens at an unknown price")
    if spend.unpriced_deployments:
        unknown.append(f"{spend.unpriced_deployments} deployments at an unknown cost")
    detail = ", ".join(parts) + (f"; not counted: {', '.join(unknown)}" if unknown else "")
    total, limit = usd(spend.total_usd), usd(budget.limit_usd)
    if reached >= 100:
        head = (
            f":no_entry: tunebot has spent its {limit} budget for {spend.month}: {total} so far "
            f"({detail})."
        )
        what = f"From now until {resets} (UTC), {then}."
    else:
        head = (
            f":warning: tunebot has spent {total} of its {limit} budget for {spend.month}, "
            f"{percent:.0f}% ({detail})."
        )
        what = f"Once it is spent, {then} until {resets} (UTC)."
    return (
        f"{head} {what} Raise `TUNEBOT_MONTHLY_BUDGET_USD` to give it more; "
        "`/finetune usage` shows where it goes."
    )
