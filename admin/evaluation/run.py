"""One run of an evaluation: take its lease, ask for the answers still missing, judge, score."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from admin.errors import TunebotError, new_reference
from admin.evaluation import judge, scoring
from admin.evaluation.answering import Answer, AnswerFailed, Task, answer_all
from admin.evaluation.config import EvalDeps
from admin.evaluation.heldout import Example, load_examples
from admin.evaluation.report import build_report
from storage import eval_repo, repo
from storage.models import Evaluation

log = logging.getLogger(__name__)

CANDIDATE, CURRENT = "candidate", "current"


@dataclass(frozen=True)
class RunResult:
    """`report` when every answer is in; else `busy` (another runner has it) or `error`."""

    report: dict[str, Any] | None = None
    busy: bool = False
    error: str | None = None
    failures: int = 0
    seconds: float = 0.0


def run(deps: EvalDeps, evaluation_id: int, *, clock: Callable[[], datetime]) -> RunResult:
    """Carry a running evaluation as far as it goes; the caller records the outcome."""
    with deps.session_factory.begin() as session:
        if not eval_repo.take_lease(
            session, evaluation_id=evaluation_id, now=clock(), lease=deps.config.lease
        ):
            return RunResult(busy=True)
        row = session.get(Evaluation, evaluation_id, populate_existing=True)
        assert row is not None
        dataset = repo.get_dataset(session, dataset_id=row.dataset_id)
        assert dataset is not None
        session.expunge(row)
    started = time.monotonic()
    try:
        examples = _examples(deps, dataset.sha256, dataset.label, row.examples)
        _answer(deps, row, examples, clock)
        _judge(deps, row, examples, clock)
        report = _score(deps, row, examples, dataset.label)
    except TunebotError as error:  # a model that does not answer, a provider turned off
        reason = str(error)
    except Exception:
        # Counted like a provider failure, so a fault that repeats holds the job back with a
        # reason instead of retrying forever.
        reference = new_reference()
        log.exception("evaluation %s failed (ref %s)", evaluation_id, reference)
        reason = f"an unexpected error (ref `{reference}` in tunebot's log)"
    else:
        return RunResult(report=report, seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    with deps.session_factory.begin() as session:
        failures = eval_repo.end_run(
            session, evaluation_id=evaluation_id, seconds=seconds, error=reason
        )
    log.warning("evaluation %s: run %d failed: %s", evaluation_id, failures, reason)
    return RunResult(error=reason, failures=failures, seconds=seconds)


def _examples(deps: EvalDeps, sha256: str, label: str, limit: int) -> list[Example]:
    path = deps.store.path(sha256) if deps.store is not None else None
    if path is None or not path.is_file():
        raise AnswerFailed(f"the held-out data ({label}) is missing from the dataset store")
    return load_examples(path, limit=limit)


def _stored(deps: EvalDeps, evaluation_id: int) -> dict[tuple[int, str], Any]:
    with deps.session_factory() as session:
        rows = eval_repo.answers(session, evaluation_id=evaluation_id)
        for row in rows:
            session.expunge(row)
    return {(row.example, row.side): row for row in rows}


def _keep(deps: EvalDeps, row: Evaluation, clock: Callable[[], datetime]) -> Any:
    def keep(task: Task, answer: Answer) -> None:
        # Stored as it arrives, with the lease pushed on: a crash loses at most the answers
        # in flight, and a live runner is never mistaken for a dead one.
        with deps.session_factory.begin() as session:
            eval_repo.store_answer(
                session,
                values={
                    "evaluation_id": row.id,
                    "example": task.example,
                    "side": task.side,
                    "text": answer.text.replace("\x00", ""),  # PostgreSQL text refuses NUL
                    "prompt_tokens": answer.prompt_tokens,
                    "completion_tokens": answer.completion_tokens,
                    "seconds": answer.seconds,
                },
            )
            eval_repo.extend_lease(session, evaluation_id=row.id, until=clock() + deps.config.lease)

    return keep


def _answer(
    deps: EvalDeps, row: Evaluation, examples: list[Example], clock: Callable[[], datetime]
) -> None:
    have = _stored(deps, row.id)
    sides = {
        CANDIDATE: (row.candidate_provider, row.candidate_model),
        CURRENT: (row.current_provider, row.current_model),
    }
    tasks = [
        Task(example.index, side, deps.endpoint_for(provider), model, example.messages)
        for example in examples
        for side, (provider, model) in sides.items()
        if (example.index, side) not in have
    ]
    answer_all(
        tasks,
        clients=deps.clients,
        concurrency=deps.config.concurrency,
        max_tokens=deps.config.max_tokens,
        tries=deps.config.tries,
        on_answer=_keep(deps, row, clock),
    )


def _judge(
    deps: EvalDeps, row: Evaluation, examples: list[Example], clock: Callable[[], datetime]
) -> None:
    judge_model = deps.judge()
    if judge_model is None:
        return
    have = _stored(deps, row.id)
    endpoint = deps.endpoint_for(judge_model[0])
    tasks = []
    for example in examples:
        candidate, current = have[(example.index, CANDIDATE)], have[(example.index, CURRENT)]
        for side in (judge.FIRST, judge.SECOND):
            if (example.index, side) in have:
                continue
            messages = judge.judge_messages(example, candidate.text, current.text, side=side)
            tasks.append(Task(example.index, side, endpoint, judge_model[1], messages))
    answer_all(
        tasks,
        clients=deps.clients,
        concurrency=deps.config.concurrency,
        max_tokens=8,
        tries=deps.config.tries,
        on_answer=_keep(deps, row, clock),
    )


def _score(
    deps: EvalDeps, row: Evaluation, examples: list[Example], dataset_label: str
) -> dict[str, Any]:
    have = _stored(deps, row.id)
    scoring.load()
    started = time.monotonic()
    scored = scoring.score_all(
        [
            (e.index, e.reference, have[(e.index, CURRENT)].text, have[(e.index, CANDIDATE)].text)
            for e in examples
        ]
    )
    scoring_seconds = time.monotonic() - started
    verdicts = None
    if deps.judge() is not None:
        verdicts = {
            e.index: judge.combine(
                have[(e.index, judge.FIRST)].text, have[(e.index, judge.SECOND)].text
            )
            for e in examples
        }
    return build_report(
        row,
        examples=examples,
        answers=have,
        scored=scored,
        judged=verdicts,
        judge_model=deps.judge(),
        margin=deps.config.margin,
        dataset_label=dataset_label,
        scoring_seconds=scoring_seconds,
        concurrency=deps.config.concurrency,
    )
