"""Suggested prompts for the agent DM: what admins type -> checked prompts; the defaults.

Slack shows up to four prompts when someone opens the app's DM (assistant.threads.
setSuggestedPrompts and the manifest's agent_view.suggested_prompts both stop at four).
Each has a title (the label people see) and a message (what is sent when they pick it).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from admin.options import UsageError
from storage import agent_repo
from storage.agent_repo import Prompt
from storage.db import SessionFactory

MAX_PROMPTS = 4
TITLE_MAX, MESSAGE_MAX = 100, 1000  # the columns that keep them
SEPARATOR = "|"

# What the DM offers until an admin sets prompts. slack-manifest.yaml's
# features.agent_view.suggested_prompts says the same (a test holds them together).
DEFAULT_PROMPTS = (
    Prompt("What can you answer?", "What kinds of questions can you answer about our team?"),
    Prompt("Explain a term", "Explain a term our team uses, as you would to a new teammate."),
    Prompt("Draft a reply", "Help me draft a reply in our team's usual style."),
)
PROMPTS_TITLE = "Try asking"


def parse_prompt(raw: str, number: int) -> Prompt:
    """`message`, or `title | message`, as an admin typed it -> a Prompt, or a UsageError."""
    title, sep, message = raw.partition(SEPARATOR)
    title, message = " ".join(title.split()), " ".join(message.split())
    if not sep:
        title, message = _shortened(title), title
    if not title or not message:
        raise UsageError(
            f"Prompt {number} needs some text (a title before `{SEPARATOR}` is optional)."
        )
    if len(title) > TITLE_MAX:
        raise UsageError(f"Prompt {number}'s title is over {TITLE_MAX} characters.")
    if len(message) > MESSAGE_MAX:
        raise UsageError(f"Prompt {number} is over {MESSAGE_MAX:,} characters.")
    return Prompt(title, message)


def _shortened(text: str) -> str:
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1].rstrip() + "…"


def parse_prompts(words: Sequence[str]) -> list[Prompt]:
    # How many is the command table's to check (admin.commands: `prompts` takes up to four).
    return [parse_prompt(word, n) for n, word in enumerate(words, start=1)]


def current_prompts(session: Session) -> tuple[list[Prompt], bool]:
    """The prompts people are offered, and whether an admin set them (False: the defaults)."""
    stored = agent_repo.suggested_prompts(session)
    return (stored, True) if stored else (list(DEFAULT_PROMPTS), False)


def set_prompts(
    session_factory: SessionFactory, words: Sequence[str], *, user: str
) -> list[Prompt]:
    prompts = parse_prompts(words)
    with session_factory.begin() as session:
        agent_repo.replace_suggested_prompts(session, prompts=prompts, user=user)
    return prompts


def reset_prompts(session_factory: SessionFactory) -> bool:
    with session_factory.begin() as session:
        return agent_repo.clear_suggested_prompts(session)
