"""Before any model is asked: whether tunebot answers in this channel (TUNEBOT_CHANNELS), whether
the person has answers left today (TUNEBOT_USER_DAILY_LIMIT), and whether this month's budget
is spent (TUNEBOT_MONTHLY_BUDGET_USD); a refusal is one plain line in the thread, or silence.

The chat calls `check` once per question, in the transaction that claims it. With none of the
three set it does nothing at all; the budget costs an attribute read (admin.budget.SpendGauge),
the allowlist a set lookup (and, outside it, the guarded insert of its one notice), and only the
daily limit a query: one person's answers today, by an index, in that same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from admin.budget import spent_line
from admin.usage import day_start
from bot.deps import Deps
from bot.history import APOLOGY_EVENT
from storage import repo, usage_repo
from storage.models import utcnow
from storage.repo import ModelRef

if TYPE_CHECKING:
    from bot.chat import Question

log = logging.getLogger(__name__)


class Refusal(StrEnum):
    """Why a question got a line instead of an answer: the turn's outcome."""

    NOT_HERE = "not_allowed"
    DAILY_LIMIT = "daily_limit"
    BUDGET_SPENT = "budget_spent"


@dataclass(frozen=True)
class Verdict:
    """The model to answer with; or, when it is None, why not and the line to say (None: say
    nothing)."""

    model: ModelRef | None
    refusal: Refusal | None = None
    line: str | None = None

    def refuse(self, deps: Deps, question: Question, model: ModelRef) -> None:
        """Say the line in the question's thread, then record the turn (with the model that
        would have answered)."""
        assert self.refusal is not None
        if self.line is not None:
            try:
                deps.slack.chat_postMessage(
                    channel=question.channel,
                    thread_ts=question.thread_ts,
                    text=self.line,
                    # Marked so a thread's history sent to a model leaves it out.
                    metadata={
                        "event_type": APOLOGY_EVENT,
                        "event_payload": {"refusal": str(self.refusal)},
                    },
                )
            except Exception:
                where = f"{question.channel}:{question.ts}"
                log.exception("could not say why %s went unanswered", where)
        with deps.session_factory.begin() as session:
            repo.record_turn(session, turn=question.turn(model, outcome=str(self.refusal)))
        log.info("%s:%s not answered: %s", question.channel, question.ts, self.refusal)


def check(session: Session, deps: Deps, question: Question, model: ModelRef) -> Verdict:
    """Whether `question` is answered, and with what: `model`, or the budget's fallback once
    it is spent. Runs in the transaction that claimed the question."""
    settings = deps.settings
    if settings.channels and not question.is_dm and question.channel not in settings.channels:
        first = usage_repo.tell_channel_once(session, channel=question.channel)
        return Verdict(None, Refusal.NOT_HERE, _not_here(deps) if first else None)
    limit = settings.user_daily_limit
    if limit is not None:
        now = utcnow()
        had = usage_repo.answers_since(session, user=question.user, since=day_start(now))
        if had >= limit:
            return Verdict(None, Refusal.DAILY_LIMIT, _limit_line(limit, now))
    gauge = deps.budget
    if gauge is not None and gauge.is_spent():
        if gauge.budget.fallback is not None:
            return Verdict(gauge.budget.fallback)
        line = spent_line(gauge.budget, now=utcnow())
        return Verdict(None, Refusal.BUDGET_SPENT, line)
    return Verdict(model)


def _not_here(deps: Deps) -> str:
    admins = " or ".join(f"<@{a}>" for a in sorted(deps.settings.admins))
    ask = f"ask {admins} to add this channel" if admins else "an admin can add this channel"
    return (
        "Thanks for the mention! I only answer in the channels I'm set up for, so I'll stay "
        f"quiet here; {ask}, or send me a direct message."
    )


def _limit_line(limit: int, now: datetime) -> str:
    resets = day_start(now) + timedelta(days=1)
    hours, minutes = divmod(int((resets - now).total_seconds()) // 60, 60)
    answers = "answer" if limit == 1 else "answers"
    return (
        f"You've had your {limit} {answers} for today, the most each person gets; it starts "
        f"again at 00:00 UTC, in {hours} h {minutes} min."
    )
