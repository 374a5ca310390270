"""No paid calls while waiting: a finished job is not polled again, and whether its model answers
is asked with a growing pause, then never again. The emulators count every request."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from admin.job_stages import JobStage
from admin.poller import tick
from emulators.sandbox import Sandbox
from storage.models import utcnow
from tests.eval_helpers import DiesAfter, ProcessDied, trained, tuned
from tests.sandbox_helpers import command, only_job, upload


def calls(box: Sandbox, since: int) -> list[tuple[str, str]]:
    """The OpenAI emulator's requests after the first `since`."""
    return box.openai.requests[since:]


def job_reads(requests: list[tuple[str, str]]) -> list[str]:
    return [path for method, path in requests if path.startswith("/v1/fine_tuning/")]


def one_token_chats(box: Sandbox, since: int) -> list[str]:
    return [
        str(body.get("model"))
        for body in box.openai.chat_requests[since:]
        if 1 in (body.get("max_completion_tokens"), body.get("max_tokens"))
    ]


def at(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


def test_a_model_that_does_not_answer_yet_is_asked_again_later_and_never_once_live(
    box: Sandbox,
) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    model = box.openai.succeed_job(job.provider_job_id, callable_after_calls=2)
    start = utcnow()
    poller = box.deps.poller()
    poller.clock = lambda: start

    tick(poller)  # the job is read once more, trained: its model is asked, and 404s
    assert only_job(box).stage == JobStage.CALLABLE
    assert job_reads(box.openai.requests), "the succeeded job was read"

    seen, chats = len(box.openai.requests), len(box.openai.chat_requests)
    tick(poller)  # at once again: nothing is asked at all
    tick(poller)
    assert calls(box, seen) == []

    poller.clock = lambda: at(start, 20)  # past the first pause (15 s): asked once, 404 again
    tick(poller)
    assert job_reads(calls(box, seen)) == [] and one_token_chats(box, chats) == [model]
    seen, chats = len(box.openai.requests), len(box.openai.chat_requests)
    poller.clock = lambda: at(start, 40)  # within the doubled pause (30 s): nothing
    tick(poller)
    assert calls(box, seen) == []

    poller.clock = lambda: at(start, 60)
    report = tick(poller)  # it answers: no held-out data, so it goes live
    assert report.went_live == ["live"] and only_job(box).stage == JobStage.LIVE
    assert job_reads(calls(box, seen)) == [] and one_token_chats(box, chats) == [model]

    seen = len(box.openai.requests)
    for minutes in (2, 30, 600):
        poller.clock = lambda minutes=minutes: at(start, minutes * 60)
        tick(poller)
    assert calls(box, seen) == []


def test_the_pause_grows_to_ten_minutes_and_a_long_wait_is_said_once(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    box.openai.succeed_job(job.provider_job_id, callable_after_calls=1000)
    start = utcnow()
    poller = box.deps.poller()
    asked_at: list[datetime] = []
    now = start
    for _ in range(80):  # ticks every 30 s for 40 minutes
        poller.clock = lambda now=now: now
        chats = len(box.openai.chat_requests)
        tick(poller)
        if len(box.openai.chat_requests) > chats:
            asked_at.append(now)
        now += timedelta(seconds=30)

    gaps = [(b - a).total_seconds() for a, b in pairwise(asked_at)]
    assert gaps == sorted(gaps), gaps  # the pause only grows
    assert max(gaps) <= 630 and max(gaps) >= 480  # up to ten minutes (ticks every 30 s)
    assert len(asked_at) < 14  # not 80
    waiting = [
        m["text"]
        for m in box.slack.messages("C0NOTIFY01")
        if m.get("bot_id") and (m.get("text") or "").startswith(":hourglass:")
    ]
    assert len(waiting) == 1 and "job-1 finished training" in waiting[0]


def test_an_evaluation_in_progress_asks_the_provider_nothing_but_its_answers(
    box: Sandbox,
) -> None:
    _, references = trained(box)
    crashing = tuned(box.deps.poller(), concurrency=1)
    assert crashing.evaluation is not None
    crashing.evaluation = dataclasses.replace(crashing.evaluation, clients=DiesAfter(3))
    with pytest.raises(ProcessDied):
        tick(crashing)  # the runner dies holding the evaluation's lease
    assert only_job(box).stage == JobStage.EVALUATING

    seen, chats = len(box.openai.requests), len(box.openai.chat_requests)
    waiting = box.deps.poller()  # within the dead runner's lease: the evaluation waits
    for _ in range(3):
        tick(waiting)
    assert calls(box, seen) == []

    resumed = box.deps.poller()
    resumed.clock = lambda: utcnow() + timedelta(minutes=11)
    tick(resumed)

    assert only_job(box).stage == JobStage.LIVE
    assert job_reads(calls(box, seen)) == []  # the finished job was not read again
    assert one_token_chats(box, chats) == []  # nor was its model "checked" between answers
    asked = [b["messages"][-1]["content"] for b in box.openai.chat_requests[chats:]]
    assert set(asked) <= set(references)  # held-out questions only
    assert len(asked) == 2 * len(references) - 3  # only the answers still missing
