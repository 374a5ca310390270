"""Queries for what answering and training cost: tokens per model (and channel or person) over a
window of turns, one person's answers since a time, the estimates of jobs started since a time,
and the once-per-channel notice of the allowlist. Callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from storage.models import ChannelNotice, Job, Turn, utcnow
from storage.repo import insert_ignore

# A turn whose model answered (the other outcomes are failures and refusals).
ANSWERED = "answered"


class GroupBy(StrEnum):
    """What `/finetune usage` sums tokens by, besides the model that spent them."""

    MODEL = "model"
    CHANNEL = "channel"
    USER = "user"


@dataclass(frozen=True)
class TokenRow:
    """Tokens one model spent (in one channel, or for one person, where grouped so)."""

    provider: str | None
    model: str
    group: str | None  # the channel or user id; None when grouped by model alone
    answers: int
    prompt_tokens: int
    completion_tokens: int


_GROUP_COLUMN = {GroupBy.CHANNEL: Turn.channel_id, GroupBy.USER: Turn.user_id}


def token_rows(session: Session, *, since: datetime, by: GroupBy = GroupBy.MODEL) -> list[TokenRow]:
    """Tokens from the stream's usage of every turn since `since`, per (provider, model) and,
    when `by` says, per channel or person. Turns without usage (refusals) are left out."""
    group = _GROUP_COLUMN.get(by)
    keys = [Turn.provider, Turn.model] + ([group] if group is not None else [])
    query = (
        select(
            *keys,
            func.count(),
            func.coalesce(func.sum(Turn.prompt_tokens), 0),
            func.coalesce(func.sum(Turn.completion_tokens), 0),
        )
        .where(
            Turn.created_at >= since,
            or_(Turn.prompt_tokens.is_not(None), Turn.completion_tokens.is_not(None)),
        )
        .group_by(*keys)
    )
    rows = []
    for row in session.execute(query):
        provider, model, *rest = row
        where = rest.pop(0) if group is not None else None
        answers, prompt, completion = rest
        rows.append(
            TokenRow(provider, str(model), where, int(answers), int(prompt), int(completion))
        )
    return rows


# Read before every answer while TUNEBOT_USER_DAILY_LIMIT is set: built (and compiled) once.
_ANSWERS_SINCE = (
    select(func.count())
    .select_from(Turn)
    .where(
        Turn.user_id == bindparam("user"),
        Turn.created_at >= bindparam("since", type_=Turn.created_at.type),
        Turn.outcome == ANSWERED,
    )
)


def answers_since(session: Session, *, user: str, since: datetime) -> int:
    """How many answers `user` has had since `since` (the index on user and time serves it)."""
    return int(session.execute(_ANSWERS_SINCE, {"user": user, "since": since}).scalar_one())


def training_since(session: Session, *, since: datetime) -> tuple[int, float]:
    """(jobs, USD): the jobs started since `since` and the sum of their cost estimates."""
    jobs, usd = session.execute(
        select(func.count(Job.id), func.sum(Job.estimated_cost_usd)).where(Job.created_at >= since)
    ).one()
    return int(jobs or 0), float(usd or 0.0)


def tell_channel_once(session: Session, *, channel: str) -> bool:
    """Claim the one notice `channel` gets; False when it (or another replica) had it."""
    return insert_ignore(session, ChannelNotice, {"channel_id": channel, "told_at": utcnow()})
