"""A job started from Slack gets one plan message in its admin's DM, edited in place through its
stages: never a second message, not with two schedulers, a crash or a late update."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from admin.outbox import OutgoingMessage
from admin.poller import tick
from bot.deps import build_deps
from bot.job_plans import PlanLedger, PlanMessages
from bot.notify import SlackNotifier
from emulators.sandbox import Sandbox
from storage.models import Outbox, utcnow
from tests.eval_helpers import ProcessDied
from tests.home_helpers import (
    plan_lines,
    plan_messages,
    script_evaluation,
    train_with_held_out,
)
from tests.sandbox_helpers import ADMIN, command, only_job, tick_at_once, upload


def _the_plan(box: Sandbox) -> dict[str, Any]:
    [message] = plan_messages(box, box.slack.open_dm(ADMIN))
    return message


def _titles(box: Sandbox, message: dict[str, Any]) -> list[str]:
    """The plan's title after each edit, in order."""
    edits = box.slack.edits(box.slack.open_dm(ADMIN), message["ts"])
    return [plan_lines(edit)[0] for edit in edits]


def _later(box: Sandbox, **delta: float) -> Any:
    poller = box.deps.poller()
    poller.clock = lambda: utcnow() + timedelta(**delta)
    return poller


def test_the_plan_is_one_message_edited_from_training_to_live(box: Sandbox) -> None:
    job, references = train_with_held_out(box)
    tick(box.deps.poller())

    message = _the_plan(box)
    lines = plan_lines(message)
    assert lines[0] == "job-1: training"
    assert ":white_check_mark: *ds-1 checked: " in lines[1]
    assert lines[2] == ":white_check_mark: *Uploaded to openai*"
    assert lines[3].startswith(":hourglass_flowing_sand: *Training `")
    assert [line.split(" ")[0] for line in lines[4:]] == [":white_circle:"] * 3

    box.openai.train_steps(job.provider_job_id, 4, steps=10)
    tick(box.deps.poller())
    assert "step 4 of 10 (40%)" in plan_lines(_the_plan(box))[3]

    model = box.openai.succeed_job(job.provider_job_id)
    script_evaluation(box, model, references, candidate=None)
    tick(box.deps.poller())

    message = _the_plan(box)  # still the one message
    titles = _titles(box, message)
    assert titles[-1] == "job-1: live"
    assert titles.index("job-1: evaluating") < titles.index("job-1: live")
    lines = plan_lines(message)
    assert lines[4].startswith(":white_check_mark: *Deploying*")
    assert "chrF 100.0 vs 100.0" in lines[5]
    assert lines[6] == f":white_check_mark: *Live*\ntunebot answers with `{model}`"
    edits = len(titles)
    tick(box.deps.poller())
    assert len(_titles(box, _the_plan(box))) == edits  # nothing changed: nothing edited


def test_a_held_back_job_says_so_and_promote_makes_the_same_message_live(box: Sandbox) -> None:
    job, references = train_with_held_out(box)
    model = box.openai.succeed_job(job.provider_job_id)
    script_evaluation(box, model, references, candidate="잘 모르겠습니다.")
    tick(box.deps.poller())

    lines = plan_lines(_the_plan(box))
    assert lines[0] == "job-1: held back by its evaluation"
    assert lines[6].startswith(":x: *Held back*") and "/finetune promote job-1" in lines[6]

    command(box, "promote job-1")
    tick(box.deps.poller())

    lines = plan_lines(_the_plan(box))
    assert lines[0] == "job-1: live" and lines[6].startswith(":white_check_mark: *Live*")


def test_a_failed_job_marks_training_as_the_step_that_failed(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    box.openai.fail_job(
        only_job(box).provider_job_id, code="invalid_training_file", message="Line 3 <bad>"
    )
    tick(box.deps.poller())

    lines = plan_lines(_the_plan(box))
    assert lines[0] == "job-1: failed"
    assert lines[3].startswith(":x: *Training") and "Line 3 &lt;bad&gt;" in lines[3]
    assert lines[6].startswith(":x: *Not live*")


def test_two_schedulers_at_once_edit_one_message(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    box.openai.succeed_job(only_job(box).provider_job_id)
    # The first post is slow: whoever delivers a later version meanwhile finds no ts yet.
    box.slack.delay_next("chat.postMessage", 0.5)
    other = build_deps(box.settings)
    try:
        tick_at_once(box.deps.poller(), other.poller())
        for deps in (box.deps, other):  # what one found the other editing is sent later
            poller = deps.poller()
            poller.clock = lambda: utcnow() + timedelta(minutes=5)
            tick(poller)
    finally:
        other.close()

    assert plan_lines(_the_plan(box))[0] == "job-1: live"
    posts = [c.params for c in box.slack.calls if c.method == "chat.postMessage"]
    assert len([p for p in posts if "tunebot_job_plan" in str(p.get("metadata"))]) == 1
    with box.deps.session_factory() as session:
        assert all(row.status == "sent" for row in session.query(Outbox))


class DiesAfterPosting(PlanLedger):
    """The sender's process dies after Slack took the post, before its ts is recorded."""

    def record(self, job_id: int, outbox_id: int, version: int, ts: str | None = None) -> None:
        if ts is not None:
            raise ProcessDied()
        super().record(job_id, outbox_id, version, ts=ts)


def test_a_crash_between_post_and_record_still_edits_the_one_message(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    crashing = box.deps.poller()
    slack = box.deps.slack
    plans = PlanMessages(slack, DiesAfterPosting(box.deps.session_factory))
    crashing.notifier = SlackNotifier(slack, plans=plans, home=box.deps.home)

    with pytest.raises(ProcessDied):
        tick(crashing)
    assert len(plan_messages(box, box.slack.open_dm(ADMIN))) == 1  # posted, not recorded

    box.openai.succeed_job(only_job(box).provider_job_id)
    restarted = _later(box, minutes=5)  # the dead sender's lease has run out
    tick(restarted)
    tick(restarted)

    message = _the_plan(box)
    assert plan_lines(message)[0] == "job-1: live"
    assert _titles(box, message)[-1] == "job-1: live"


def test_a_late_update_never_rolls_the_plan_back(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    tick(box.deps.poller())
    box.openai.train_steps(job.provider_job_id, 4, steps=10)
    box.slack.fail_next("chat.update", error="internal_error")

    tick(_later(box, days=1))  # the 40% edit fails; its retry waits past the next tick
    box.openai.succeed_job(job.provider_job_id)
    tick(box.deps.poller())  # the newer stages go out first
    assert plan_lines(_the_plan(box))[0] == "job-1: live"
    tick(_later(box, days=2))  # now the 40% update arrives, late

    message = _the_plan(box)
    assert plan_lines(message)[0] == "job-1: live"
    assert _titles(box, message)[-1] == "job-1: live"
    assert not any("40%" in line for line in plan_lines(message))

    with box.deps.session_factory() as session:  # and the very first version, once more
        first = session.query(Outbox).filter(Outbox.dedupe_key == "job-1:plan:1000").one()
        again = OutgoingMessage(
            first.id, first.kind, first.channel, dict(first.payload), first.attempts + 1
        )
    edits = len(_titles(box, message))
    box.deps.notifier.deliver(again, lambda payload: None)
    assert len(_titles(box, _the_plan(box))) == edits
    assert plan_lines(_the_plan(box))[0] == "job-1: live"
