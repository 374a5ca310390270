"""Feedback -> what admins see and train on: counts, SFT and DPO datasets, expiry of texts."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from admin.datastore import DatasetStore
from admin.intake import IntakeOptions, IntakeResult, take_dataset
from admin.providers.plugin import Provider
from storage import feedback_repo
from storage.db import SessionFactory
from storage.feedback_repo import ModelCounts, RatedAnswer

ORIGIN = "feedback"


@dataclass(frozen=True)
class NegativeAnswer:
    channel_id: str
    reply_ts: str  # the answer's last message, the one with the buttons
    provider: str | None
    model: str
    created_at: datetime


@dataclass(frozen=True)
class FeedbackSummary:
    week: list[ModelCounts]
    month: list[ModelCounts]
    corrections_week: int
    corrections_month: int
    negatives: list[NegativeAnswer]


@dataclass
class FeedbackExport:
    """The examples built from feedback, and how many rated answers were left out, and why."""

    chat: list[dict[str, Any]] = field(default_factory=list)
    preferences: list[dict[str, Any]] = field(default_factory=list)
    positive: int = 0  # answers voted up (min_votes or more, none down)
    corrected: int = 0  # answers with a suggested better answer
    mixed: int = 0  # voted both up and down: left out
    negative_only: int = 0  # voted down, no correction: nothing to learn from
    too_few_votes: int = 0  # voted up fewer than min_votes times
    dm_left_out: int = 0  # given in DMs while TUNEBOT_FEEDBACK_DMS is off
    expired: int = 0  # texts deleted after TUNEBOT_FEEDBACK_KEEP_DAYS (or never kept)


@dataclass(frozen=True)
class FeedbackDatasets:
    export: FeedbackExport
    chat: tuple[str, IntakeResult] | None  # (file name, intake result)
    preferences: tuple[str, IntakeResult] | None


def summarize(session_factory: SessionFactory, *, now: datetime) -> FeedbackSummary:
    """Votes per model over 7 and 30 days, corrections, and the latest answers voted down."""
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    with session_factory() as session:
        return FeedbackSummary(
            week=feedback_repo.vote_counts(session, since=week),
            month=feedback_repo.vote_counts(session, since=month),
            corrections_week=feedback_repo.correction_count(session, since=week),
            corrections_month=feedback_repo.correction_count(session, since=month),
            negatives=[
                NegativeAnswer(
                    a.turn.channel_id, a.reply_ts, a.turn.provider, a.turn.model, a.turn.created_at
                )
                for a in feedback_repo.recent_negative(session, limit=5)
            ],
        )


def collect(
    session_factory: SessionFactory,
    *,
    since: datetime | None,
    model: str | None,
    min_votes: int,
    include_dms: bool,
) -> FeedbackExport:
    """Turn rated answers into chat examples and preference pairs.

    An answer voted only up (at least `min_votes` times) becomes a chat example as it was
    given. A suggested correction becomes a chat example with the correction as the
    assistant's turn, and a preference pair (chosen: the correction, rejected: the answer),
    whatever the votes. Answers voted both up and down are left out and counted.
    Only the prompt the model was given and the answer are used, nothing else from Slack.
    """
    with session_factory() as session:
        rated = feedback_repo.rated_answers(session, since=since, model=model)
    export = FeedbackExport()
    for item in rated:
        if item.answer.is_dm and not include_dms:
            export.dm_left_out += 1
        elif item.answer.text is None or item.answer.prompt is None:
            export.expired += 1
        elif item.corrections:
            _add_corrections(export, item)
        elif item.positive and item.negative:
            export.mixed += 1
        elif item.positive >= min_votes:
            export.positive += 1
            export.chat.append(_chat(item, item.answer.text or ""))
        elif item.positive:
            export.too_few_votes += 1
        else:
            export.negative_only += 1
    return export


def _add_corrections(export: FeedbackExport, item: RatedAnswer) -> None:
    export.corrected += 1
    given = (item.answer.text or "").strip()
    for correction in dict.fromkeys(c.strip() for c in item.corrections if c.strip()):
        export.chat.append(_chat(item, correction))
        if correction != given:
            export.preferences.append(
                {
                    "input": {"messages": list(item.answer.prompt or [])},
                    "preferred_output": [{"role": "assistant", "content": correction}],
                    "non_preferred_output": [{"role": "assistant", "content": given}],
                }
            )


def _chat(item: RatedAnswer, reply: str) -> dict[str, Any]:
    prompt = list(item.answer.prompt or [])
    return {"messages": [*prompt, {"role": "assistant", "content": reply}]}


def build_datasets(
    export: FeedbackExport,
    *,
    uploader: str,
    base_model: str,
    session_factory: SessionFactory,
    provider: Provider,
    store: DatasetStore | None = None,
    day: str,
) -> FeedbackDatasets:
    """Run the examples through the same intake as an uploaded file (report, store, upload)."""
    taken: list[tuple[str, IntakeResult] | None] = []
    with tempfile.TemporaryDirectory(prefix="tunebot-feedback-") as folder:
        for name, examples in (
            (f"feedback-{day}.jsonl", export.chat),
            (f"feedback-{day}-preferences.jsonl", export.preferences),
        ):
            if not examples:
                taken.append(None)
                continue
            result = _take(
                Path(folder) / name,
                examples,
                uploader=uploader,
                base_model=base_model,
                session_factory=session_factory,
                provider=provider,
                store=store,
            )
            taken.append((name, result))
    return FeedbackDatasets(export, taken[0], taken[1])


def _take(
    path: Path,
    examples: list[dict[str, Any]],
    *,
    uploader: str,
    base_model: str,
    session_factory: SessionFactory,
    provider: Provider,
    store: DatasetStore | None,
) -> IntakeResult:
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example, ensure_ascii=False) + "\n")
    return take_dataset(
        path,
        name=path.name,
        uploader=uploader,
        options=IntakeOptions(model=base_model),
        session_factory=session_factory,
        provider=provider,
        store=store,
        origin=ORIGIN,
    )


def forget_old_texts(session_factory: SessionFactory, *, keep_days: int, now: datetime) -> int:
    """Delete the texts of answers older than `keep_days` (votes stay); how many were emptied."""
    with session_factory.begin() as session:
        return feedback_repo.delete_texts(session, before=now - timedelta(days=keep_days))
