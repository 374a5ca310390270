"""The eval gate under failure: a crash resumes, two schedulers evaluate once, provider failures
retry and then hold the job back; the judge's two orders; a comparison run on demand."""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from admin.poller import PollerDeps, tick
from bot.deps import build_deps
from emulators.openai_state import OpenAIError
from emulators.sandbox import Sandbox
from storage import repo
from storage.models import EvalAnswer, Evaluation, Job, utcnow
from tests.eval_helpers import (
    DiesAfter,
    ProcessDied,
    announcements,
    eval_requests,
    responses,
    trained,
    tuned,
)
from tests.sandbox_helpers import ADMIN, NOTIFY, command

JUDGE = "judge-model"


def stage(box: Sandbox) -> str:
    with box.deps.session_factory() as session:
        return session.query(Job).one().stage


def test_a_crash_mid_evaluation_resumes_and_announces_once(box: Sandbox) -> None:
    model, references = trained(box)
    base = box.settings.base_model
    crashing = tuned(box.deps.poller(), concurrency=1)
    assert crashing.evaluation is not None
    crashing.evaluation = dataclasses.replace(crashing.evaluation, clients=DiesAfter(3))

    with pytest.raises(ProcessDied):
        tick(crashing)

    with box.deps.session_factory() as session:
        assert session.query(EvalAnswer).count() == 3
        assert repo.get_active_model(session, default=box.deps.base_model).model == base
    assert stage(box) == "evaluating" and announcements(box, NOTIFY) == []

    restarted = box.deps.poller()
    restarted.clock = lambda: utcnow() + timedelta(minutes=10)  # the dead runner's lease ran out
    tick(restarted)
    tick(restarted)

    assert stage(box) == "live"
    assert len(announcements(box, NOTIFY)) == 1
    held_out = set(references)
    asked = eval_requests(box, model, held_out) + eval_requests(box, base, held_out)
    assert len(asked) == 2 * len(references)  # the three stored answers were not asked again
    with box.deps.session_factory() as session:
        assert session.query(EvalAnswer).count() == 2 * len(references)


def test_two_schedulers_evaluate_and_announce_exactly_once(box: Sandbox) -> None:
    model, references = trained(box)
    other = build_deps(box.settings)
    try:
        barrier = threading.Barrier(2)

        def run(poller: PollerDeps) -> None:
            barrier.wait()
            tick(poller)

        threads = [threading.Thread(target=run, args=(d.poller(),)) for d in (box.deps, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tick(other.poller())
        tick(box.deps.poller())
    finally:
        other.close()

    held_out = set(references)
    asked = eval_requests(box, model, held_out) + eval_requests(
        box, box.settings.base_model, held_out
    )
    assert len(asked) == 2 * len(references)
    with box.deps.session_factory() as session:
        assert session.query(Evaluation).count() == 1
        swaps = [h for h in repo.model_history(session) if h.model == model]
    assert len(swaps) == 1 and len(announcements(box, NOTIFY)) == 1


def test_rate_limits_are_waited_out_and_the_evaluation_finishes(box: Sandbox) -> None:
    _, references = trained(box)
    calls = {"n": 0}
    lock = threading.Lock()

    def limited(name: str, messages: list[dict[str, Any]]) -> str:
        with lock:
            calls["n"] += 1
            if calls["n"] <= 3:
                raise OpenAIError(
                    429,
                    "Rate limit reached for requests",
                    type="requests",
                    code="rate_limit_exceeded",
                    headers={"retry-after": "0"},
                )
        return "현재 모델의 답입니다."

    box.openai.script(box.settings.base_model, limited)

    tick(box.deps.poller())

    assert stage(box) == "live" and calls["n"] == len(references) + 3


def test_a_used_up_quota_is_not_waited_for(box: Sandbox) -> None:
    _, references = trained(box)

    def no_quota(name: str, messages: list[dict[str, Any]]) -> str:
        raise OpenAIError(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            type="insufficient_quota",
            code="insufficient_quota",
        )

    box.openai.script(box.settings.base_model, no_quota)

    tick(box.deps.poller())

    with box.deps.session_factory() as session:
        row = session.query(Evaluation).one()
    assert row.failures == 1 and "quota is used up" in (row.last_error or "")
    base_asked = [r for r in box.openai.chat_requests if r.get("model") == box.settings.base_model]
    assert len(base_asked) <= len(references)  # one try each: no retries, no waiting


def test_repeated_provider_failures_hold_the_job_back_with_the_reason(box: Sandbox) -> None:
    trained(box)

    def broken(name: str, messages: list[dict[str, Any]]) -> str:
        raise OpenAIError(500, "The server had an error.", type="server_error")

    box.openai.script(box.settings.base_model, broken)
    poller = tuned(box.deps.poller(), tries=1, max_failures=3)

    tick(poller)
    tick(poller)
    assert stage(box) == "evaluating" and announcements(box, NOTIFY) == []
    tick(poller)

    assert stage(box) == "held_back"
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=box.deps.base_model) == box.deps.base_model
        row = session.query(Evaluation).one()
    assert row.failures == 3 and row.verdict == "held_back"
    [notice] = announcements(box, NOTIFY)
    assert "The evaluation failed 3 times" in notice["text"]
    assert f"`{box.settings.base_model}` did not answer (HTTP 500" in notice["text"]


def judge_by_reference(name: str, messages: list[dict[str, Any]]) -> str:
    """A fair judge: it picks whichever answer equals the reference."""
    text = messages[-1]["content"]
    found = re.search(
        r"Reference answer:\n(.*)\n\nAnswer A:\n(.*)\n\nAnswer B:\n(.*)\n\nWhich", text, re.S
    )
    assert found is not None
    reference, a, b = found.groups()
    return "A" if a == reference else "B" if b == reference else "TIE"


@pytest.mark.parametrize(
    ("judge", "expected"),
    [(judge_by_reference, "wins"), (lambda name, messages: "A", "ties")],
    ids=["fair", "always-first"],
)
def test_the_judge_sees_both_orders_and_a_position_bias_cancels_out(
    database_url: str, tmp_path: Path, judge: Any, expected: str
) -> None:
    with Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=NOTIFY,
        data_dir=tmp_path / "data",
        judge_model=JUDGE,
    ) as box:
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_channel("ml", channel_id=NOTIFY)
        box.openai.add_model(JUDGE)
        box.openai.script(JUDGE, judge)
        _, references = trained(box)

        tick(box.deps.poller())

        asked = [r for r in box.openai.chat_requests if r.get("model") == JUDGE]
        assert len(asked) == 2 * len(references)
        with box.deps.session_factory() as session:
            report = session.query(Evaluation).one().report
        assert report is not None and report["judge"][expected] == len(references)
        [announcement] = announcements(box, NOTIFY)
        assert f"Judge `{JUDGE}`" in announcement["text"]


def test_eval_against_another_model_runs_again_and_changes_nothing(box: Sandbox) -> None:
    model, references = trained(box)
    tick(box.deps.poller())
    other = "gpt-4.1-mini-2025-04-14"
    box.openai.add_model(other)

    command(box, f"eval job-1 against={other} provider=openai")

    [report] = responses(box, "for the new model")
    assert f"against `{other}`" in report["text"] and "chrF *100.0*" in report["text"]
    asked = eval_requests(box, other, set(references))
    assert sorted(asked) == sorted(references)
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=box.deps.base_model).model == model
        assert session.query(Evaluation).count() == 2


def test_eval_against_a_model_that_refuses_says_why_and_keeps_the_report(box: Sandbox) -> None:
    trained(box)
    tick(box.deps.poller())

    def refuses(name: str, messages: list[dict[str, Any]]) -> str:
        raise OpenAIError(400, "This model does not accept these messages.")

    box.openai.script(box.settings.base_model, refuses)
    command(box, f"eval job-1 against={box.settings.base_model}")

    [failed] = responses(box, "The evaluation did not finish")
    assert f"`{box.settings.base_model}` refused the request: HTTP 400" in failed["text"]
    command(box, "eval job-1")
    [shown] = responses(box, "*Evaluation of job-1*")
    assert "went live" in shown["text"]
