"""Queries for feedback: answers as given (each to one turn, which says where, to whom, by which
model and when), one vote per person, corrections, and the expiry of their texts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Executable,
    Table,
    case,
    exists,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, contains_eager

from storage.models import Answer, AnswerCorrection, AnswerVote, Turn, utcnow


class Vote(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


@dataclass(frozen=True)
class ModelCounts:
    provider: str | None
    model: str
    positive: int
    negative: int


@dataclass(frozen=True)
class RatedAnswer:
    """An answer with its texts and what people said about it."""

    answer: Answer
    positive: int
    negative: int
    corrections: list[str]


def record_answer(session: Session, *, turn_id: int, values: dict[str, Any]) -> None:
    """Store the finished answer to turn `turn_id`, in the transaction that stored the turn."""
    session.execute(_INSERT_ANSWER, {"turn_id": turn_id, **values})


# Built once, like the turn's INSERT: it runs on every answer.
_INSERT_ANSWER = insert(cast(Table, Answer.__table__))


def find_answer(session: Session, *, channel_id: str, reply_ts: str) -> Answer | None:
    """The answer whose last message (the one with the buttons) is `reply_ts` in the channel."""
    return session.scalar(
        select(Answer)
        .join(Answer.turn)
        .options(contains_eager(Answer.turn))
        .where(Answer.reply_ts == reply_ts, Turn.channel_id == channel_id)
    )


def get_answer(session: Session, *, answer_id: int) -> Answer | None:
    return session.get(Answer, answer_id)


def cast_vote(session: Session, *, answer_id: int, user_id: str, vote: Vote) -> Vote | None:
    """Set `user_id`'s vote on the answer (one row per person); the vote it replaced, if any."""
    previous = session.scalar(
        select(AnswerVote.vote).where(
            AnswerVote.answer_id == answer_id, AnswerVote.user_id == user_id
        )
    )
    now = utcnow()
    statement = _upsert(session, AnswerVote, ["answer_id", "user_id"], ["vote", "updated_at"])
    session.execute(
        statement,
        {
            "answer_id": answer_id,
            "user_id": user_id,
            "vote": str(vote),
            "created_at": now,
            "updated_at": now,
        },
    )
    return Vote(previous) if previous else None


def save_correction(session: Session, *, answer_id: int, user_id: str, text: str) -> None:
    """Keep `user_id`'s latest suggested answer for this answer."""
    statement = _upsert(session, AnswerCorrection, ["answer_id", "user_id"], ["text", "created_at"])
    values = {"answer_id": answer_id, "user_id": user_id, "text": text, "created_at": utcnow()}
    session.execute(statement, values)


def _upsert(session: Session, table: type, keys: list[str], changed: list[str]) -> Executable:
    core = table.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_for(core)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in changed}
    )


def vote_counts(session: Session, *, since: datetime) -> list[ModelCounts]:
    """Positive and negative votes per (provider, model), on answers given since `since`."""
    rows = session.execute(
        select(
            Turn.provider,
            Turn.model,
            func.sum(case((AnswerVote.vote == Vote.POSITIVE, 1), else_=0)),
            func.sum(case((AnswerVote.vote == Vote.NEGATIVE, 1), else_=0)),
        )
        .select_from(AnswerVote)
        .join(Answer, AnswerVote.answer_id == Answer.id)
        .join(Turn, Answer.turn_id == Turn.id)
        .where(Turn.created_at >= since)
        .group_by(Turn.provider, Turn.model)
        .order_by(Turn.model, Turn.provider)
    ).all()
    return [ModelCounts(p, m, int(pos or 0), int(neg or 0)) for p, m, pos, neg in rows]


def correction_count(session: Session, *, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count(AnswerCorrection.id)).where(AnswerCorrection.created_at >= since)
        )
        or 0
    )


def recent_negative(session: Session, *, limit: int = 5) -> list[Answer]:
    """Answers with a negative vote, the most recently voted down first."""
    latest = (
        select(AnswerVote.answer_id, func.max(AnswerVote.updated_at).label("at"))
        .where(AnswerVote.vote == Vote.NEGATIVE)
        .group_by(AnswerVote.answer_id)
        .subquery()
    )
    return list(
        session.scalars(
            select(Answer)
            .join(latest, latest.c.answer_id == Answer.id)
            .order_by(latest.c.at.desc(), Answer.id.desc())
            .limit(limit)
        ).all()
    )


def rated_answers(
    session: Session, *, since: datetime | None, model: str | None
) -> list[RatedAnswer]:
    """Answers that got a vote or a correction, oldest first (texts may have expired)."""
    query = select(Answer).join(Answer.turn).options(contains_eager(Answer.turn))
    if since is not None:
        query = query.where(Turn.created_at >= since)
    if model is not None:
        query = query.where(Turn.model == model)
    answers = {a.id: a for a in session.scalars(query.order_by(Answer.id)).all()}
    if not answers:
        return []
    votes: dict[int, list[str]] = {}
    for answer_id, vote in session.execute(
        select(AnswerVote.answer_id, AnswerVote.vote).where(AnswerVote.answer_id.in_(answers))
    ):
        votes.setdefault(answer_id, []).append(vote)
    corrections: dict[int, list[str]] = {}
    for answer_id, text in session.execute(
        select(AnswerCorrection.answer_id, AnswerCorrection.text)
        .where(AnswerCorrection.answer_id.in_(answers), AnswerCorrection.text.is_not(None))
        .order_by(AnswerCorrection.created_at)
    ):
        corrections.setdefault(answer_id, []).append(text or "")
    return [
        RatedAnswer(
            answer,
            votes.get(answer_id, []).count(Vote.POSITIVE),
            votes.get(answer_id, []).count(Vote.NEGATIVE),
            corrections.get(answer_id, []),
        )
        for answer_id, answer in answers.items()
        if answer_id in votes or answer_id in corrections
    ]


def delete_texts(session: Session, *, before: datetime) -> int:
    """Forget the prompts, answers and corrections of answers given before `before`.

    Votes stay, so the counts do not change. Guarded: a row already emptied is not touched
    again, so two schedulers report the work once. Returns how many answers were emptied.
    """
    # Per answer that still has texts, its turn by primary key: turns.created_at has no index.
    old = exists().where(Turn.id == Answer.turn_id, Turn.created_at < before)
    session.execute(
        update(AnswerCorrection)
        .where(
            AnswerCorrection.answer_id.in_(select(Answer.id).where(old)),
            AnswerCorrection.text.is_not(None),
        )
        .values(text=null())
    )
    result = session.execute(
        update(Answer)
        .where(old, Answer.text.is_not(None) | Answer.prompt.is_not(None))
        .values(text=null(), prompt=null())
    )
    return int(cast(CursorResult[Any], result).rowcount)
