"""Queries for the agent DM: the suggested prompts admins set, and who has been greeted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from storage.models import AgentGreeting, AgentPrompt, utcnow
from storage.repo import insert_ignore


class Prompt(NamedTuple):
    """One suggested prompt: the label people see, and the message sent when they pick it."""

    title: str
    message: str


_PROMPTS = select(AgentPrompt.title, AgentPrompt.message).order_by(AgentPrompt.position)


def suggested_prompts(session: Session) -> list[Prompt]:
    """The prompts admins set, in their order; [] while none are set."""
    return [Prompt(row.title, row.message) for row in session.execute(_PROMPTS)]


def replace_suggested_prompts(session: Session, *, prompts: Sequence[Prompt], user: str) -> None:
    """Make `prompts` the whole set, in one transaction with the removal of the old ones."""
    session.execute(delete(AgentPrompt))
    now = utcnow()
    session.add_all(
        AgentPrompt(position=n, title=p.title, message=p.message, set_by=user, set_at=now)
        for n, p in enumerate(prompts)
    )


def clear_suggested_prompts(session: Session) -> bool:
    """Forget the admins' prompts (the defaults apply again); True if there were any."""
    result = cast(CursorResult[tuple[()]], session.execute(delete(AgentPrompt)))
    return result.rowcount > 0


def claim_greeting(session: Session, *, user_id: str) -> bool:
    """True for the first caller for `user_id` (who then greets them), False ever after."""
    return insert_ignore(session, AgentGreeting, {"user_id": user_id, "greeted_at": utcnow()})


def release_greeting(session: Session, *, user_id: str) -> None:
    """Undo a claim whose greeting could not be sent, so the next visit greets instead."""
    session.execute(delete(AgentGreeting).where(AgentGreeting.user_id == user_id))
