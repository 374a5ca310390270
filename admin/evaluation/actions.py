"""What admins do with evaluations: read a job's report, or compare its model again on demand.
(Promoting a held-back model is a job's move: admin.job_stages.promote.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from admin.datasets.render import counted
from admin.errors import TunebotError
from admin.evaluation import run as runner
from admin.evaluation.config import EvalDeps
from admin.evaluation.gate import finalise
from admin.evaluation.heldout import HOW_TO_HOLD_OUT
from admin.evaluation.report import headline, report_blocks
from admin.job_stages import JobStage
from storage import eval_repo, job_repo, repo
from storage.db import SessionFactory
from storage.models import Evaluation, Job


def show(session_factory: SessionFactory, *, job_ref: str) -> tuple[str, list[Any] | None]:
    """`/finetune eval <job>`: the latest stored report (text, blocks), or why there is none."""
    with session_factory() as session:
        job = _job(session, job_ref)
        rows = eval_repo.for_job(session, job_id=job.id)
        # The newest finished report; else the newest attempt, running or failed.
        row = next((r for r in rows if r.report and not r.report.get("error")), None)
        row = row or (rows[0] if rows else None)
        done = len(eval_repo.answers(session, evaluation_id=row.id)) if row else 0
    if row is None:
        if job.validation_dataset_id is None:
            text = f"{job.label} was not evaluated: it had no held-out data. {HOW_TO_HOLD_OUT}"
            return text, None
        return f"{job.label} has not been evaluated (it is {job.stage}).", None
    if row.status != eval_repo.DONE or not row.report:
        return (
            f"{job.label} is being evaluated: {done} of at most "
            f"{counted(2 * row.examples, 'answer')} so far "
            f"(`{row.candidate_model}` vs `{row.current_model}`)."
            + (f" Last failure: {row.last_error}" if row.last_error else ""),
            None,
        )
    report = row.report
    if report.get("error"):
        text = f"{job.label}'s evaluation failed {report['failures']} times: {report['error']}"
        return text, None
    said = {JobStage.LIVE: "went live", JobStage.HELD_BACK: "was held back"}
    verdict = said.get(JobStage(row.verdict), "") if row.verdict else ""
    intro = (
        f"*Evaluation of {job.label}* ({'gate' if row.key.startswith('gate:') else 'on demand'}"
        f"{', ' + verdict if verdict else ''}, {row.finished_at:%Y-%m-%d %H:%M} UTC)\n"
        f"{headline(report)}"
    )
    return intro, report_blocks(report, intro=intro, full=True)


def evaluate_now(
    deps: EvalDeps,
    *,
    job_ref: str,
    against: str | None,
    provider: str | None = None,
    user: str,
    clock: Callable[[], datetime],
) -> tuple[str, list[Any]]:
    """`/finetune eval <job> against=<model>`: compare again now; nothing goes live or back."""
    with deps.session_factory() as session:
        job = _job(session, job_ref)
        if not job.callable_model:
            raise TunebotError(f"{job.label} has no model to evaluate yet (it is {job.stage}).")
        if job.validation_dataset_id is None:
            raise TunebotError(f"{job.label} has no held-out data. {HOW_TO_HOLD_OUT}")
        dataset = repo.get_dataset(session, dataset_id=job.validation_dataset_id)
        assert dataset is not None
    if deps.store is None or not deps.store.has(dataset.sha256):
        raise TunebotError(
            f"The held-out data ({dataset.label}) is not in tunebot's dataset store; send the "
            "file again to keep a copy."
        )
    current = (
        deps.resolve_model(against, provider) if against else deps.current_model(job.for_channel)
    )
    with deps.session_factory.begin() as session:
        row = eval_repo.create_evaluation(
            session,
            values={
                "key": f"demand:{job.id}:{uuid.uuid4().hex[:12]}",
                "job_id": job.id,
                "dataset_id": dataset.id,
                "candidate_provider": job.provider,
                "candidate_model": job.callable_model,
                "current_provider": current[0],
                "current_model": current[1],
                "examples": deps.config.max_examples,
                "requested_by": user,
            },
        )
        assert row is not None
        row_id = row.id
    result = runner.run(deps, row_id, clock=clock)
    if result.report is None:
        failed = {"error": result.error, "failures": result.failures}
        with deps.session_factory.begin() as session:  # recorded, so it does not look running
            eval_repo.finish(
                session, evaluation_id=row_id, verdict=None, report=failed, seconds=0, now=clock()
            )
        raise TunebotError(f"The evaluation did not finish: {result.error}. Try again later.")
    with deps.session_factory.begin() as session:
        row = session.get(Evaluation, row_id)
        assert row is not None
        report = finalise(result.report, row, clock(), result.seconds)
        eval_repo.finish(
            session,
            evaluation_id=row_id,
            verdict=None,
            report=report,
            seconds=result.seconds,
            now=clock(),
        )
    intro = f"*{job.label}* `{job.callable_model}` against `{current[1]}`:\n{headline(report)}"
    return intro, report_blocks(report, intro=intro, full=True)


def _job(session: Any, ref: str) -> Job:
    job = job_repo.find_job(session, ref=ref)
    if job is None:
        raise TunebotError(f"There is no job `{ref}`. `/finetune jobs` lists them.")
    return job
