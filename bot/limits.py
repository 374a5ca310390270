"""Before any model is asked: whether tunebot answers in this channel (TUNEBOT_CHANNELS), whether
the person has answers left today (TUNEBOT_USER_DAILY_LIMIT), and whether this month's budget
is spent (TUNEBOT_MONTHLY_BUDGET_USD); a refusal is one plain line in the thread.

The chat calls `check` once per question it claimed. With none of the three set it does no
I/O at all; the budget costs an attribute read (admin.budget.SpendGauge), the allowlist a set
lookup, and only the daily limit a query (one person's answers today, by an index).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

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


def check(deps: Deps, question: Question, model: ModelRef) -> ModelRef | None:
    """The model to answer `question` with (`model`, or the budget's fallback once it is spent);
    None when the question was refused here (said in its thread, or left unsaid)."""
    settings, now = deps.settings, utcnow()
    if settings.channels and not question.is_dm and question.channel not in settings.channels:
        with deps.session_factory.begin() as session:
            first = usage_repo.tell_channel_once(session, channel=question.channel)
        _refuse(deps, question, model, Refusal.NOT_HERE, _not_here(deps) if first else None)
        return None
    limit = settings.user_daily_limit
    if limit is not None:
        with deps.session_factory() as session:
            had = usage_repo.answers_since(session, user=question.user, since=day_start(now))
        if had >= limit:
            _refuse(deps, question, model, Refusal.DAILY_LIMIT, _limit_line(limit, now))
            return None
    gauge = deps.budget
    if gauge is not None and gauge.is_spent():
        if gauge.budget.fallback is not None:
            return gauge.budget.fallback
        _refuse(deps, question, model, Refusal.BUDGET_SPENT, spent_line(gauge.budget, now=now))
        return None
    return model


def _refuse(
    deps: Deps, question: Question, model: ModelRef, why: Refusal, line: str | None
) -> None:
    """Say `line` in the question's thread (unless None: stay silent) and record the turn."""
    if line is not None:
        try:
            deps.slack.chat_postMessage(
                channel=question.channel,
                thread_ts=question.thread_ts,
                text=line,
                # Marked so a thread's history sent to a model leaves it out.
                metadata={"event_type": APOLOGY_EVENT, "event_payload": {"refusal": str(why)}},
            )
        except Exception:
            log.exception("could not say why %s:%s was not answered", question.channel, question.ts)
    with deps.session_factory.begin() as session:
        repo.record_turn(session, turn=question.turn(model, outcome=str(why)))
    log.info("%s:%s not answered: %s", question.channel, question.ts, why)


def _not_here(deps: Deps) -> str:
    admins = " or ".join(f"<@{a}>" for a in sorted(deps.settings.admins))
    ask = f"ask {admins} to add this channel" if admins else "an admin can add this channel"
    return (
        "Thanks for the mention! I only answer in the channels I'm set up for, so I'll stay "
        f"quiet here; {ask}, or send me a direct message."
    )


def _limit_line(limit: int, now: datetime) -> str:
    resets = day_start(now) + timedelta(days=1)
    left = resets - now
    hours, minutes = divmod(int(left.total_seconds()) // 60, 60)
    answers = "answer" if limit == 1 else "answers"
    return (
        f"You've had your {limit} {answers} for today, the most each person gets; it starts "
        f"again at 00:00 UTC, in {hours} h {minutes} min."
    )
