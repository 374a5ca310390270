"""/finetune train and the scheduler: a job starts, and its outcome reaches Slack exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from admin.poller import tick
from bot.deps import build_deps
from emulators.sandbox import Sandbox
from storage import repo
from storage.models import AuditEntry, Outbox, utcnow
from storage.repo import ModelRef
from tests.sandbox_helpers import (
    ADMIN,
    NOTIFY,
    channel_texts,
    command,
    only_job,
    upload,
)


def test_train_starts_a_job_with_the_options_and_audits_it(box: Sandbox) -> None:
    upload(box)
    answer = command(box, "train ds-1 epochs=2 suffix=support lr=1.5 seed=7")

    assert answer["response_type"] == "in_channel"
    assert "started *job-1*" in answer["text"] and "2 epochs" in answer["text"]
    job = only_job(box)
    remote = box.openai.jobs[job.provider_job_id]
    assert remote["model"] == box.settings.base_model
    assert remote["user_provided_suffix"] == "support" and remote["seed"] == 7

    def audited() -> list[AuditEntry]:  # written just after the reply
        with box.deps.session_factory() as session:
            return session.query(AuditEntry).filter(AuditEntry.action == "/finetune train").all()

    [entry] = box.slack.wait_for(audited)
    assert entry.user_id == ADMIN and "started job-1" in entry.outcome


def test_train_above_the_threshold_asks_first_and_start_starts_it(database_url: str) -> None:
    with Sandbox.open(
        database_url=database_url, admins=frozenset({ADMIN}), confirm_above_usd=0.0
    ) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        b.slack.add_channel("ml", channel_id=NOTIFY)
        upload(b)
        asked = command(b, "train ds-1")
        assert asked["response_type"] == "ephemeral" and b.openai.jobs == {}
        start = next(e for e in asked["blocks"][1]["elements"] if e["action_id"] == "train_confirm")

        b.slack.send_interaction(
            ADMIN,
            {
                "type": "block_actions",
                "user": {"id": ADMIN},
                "channel": {"id": NOTIFY},
                "actions": [{"type": "button", **start}],
            },
        )

        # The bot answers on the button's response_url once the job is created and stored.
        started = b.slack.wait_for(
            lambda: [r for r in b.slack.responses if "started *job-1*" in (r.get("text") or "")],
            timeout=20,
        )
        assert started[0]["response_type"] == "in_channel" and len(b.openai.jobs) == 1
        assert only_job(b).dataset_id == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train ds-9", "There is no dataset `ds-9`"),
        ("train ds-1 model=gpt-5", "cannot be fine-tuned"),
        ("train ds-1 beta=0.1", "applies to DPO only"),
        ("train ds-1 epochs=0", "`epochs=` expects"),
    ],
)
def test_train_refuses_with_a_reason_and_nothing_reaches_the_provider(
    box: Sandbox, text: str, expected: str
) -> None:
    upload(box)
    answer = command(box, text)
    assert answer["response_type"] == "ephemeral" and expected in answer["text"]
    assert box.openai.jobs == {}


def test_the_providers_refusal_reads_as_an_explanation(box: Sandbox) -> None:
    upload(box)
    box.openai.refuse_new_jobs("Fine-tuning is no longer available for new jobs.")
    answer = command(box, "train ds-1")
    assert "Fine-tuning is no longer available for new jobs." in answer["text"]
    assert "Traceback" not in answer["text"] and box.openai.jobs == {}


def test_a_non_admin_is_refused_and_nothing_reaches_the_provider(box: Sandbox) -> None:
    upload(box)
    user = box.slack.add_user("minji")
    answer = command(box, "train ds-1", user=user)
    assert "Only tunebot admins" in answer["text"] and box.openai.jobs == {}


def test_success_swaps_the_model_in_and_tells_the_channel_and_the_admin(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    model = box.openai.succeed_job(job.provider_job_id, callable_after_calls=1)

    first = tick(box.deps.poller())  # the new model still answers 404: no swap yet
    assert first.went_live == [] and only_job(box).stage == "callable"
    later = box.deps.poller()
    later.clock = lambda: utcnow() + timedelta(minutes=1)  # asked again after a pause
    second = tick(later)

    assert second.went_live == ["live"]
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=ModelRef("openai", "?")).model == model
        assert repo.model_history(session)[0].set_by_job == "job-1"
    [announcement] = channel_texts(box, NOTIFY)
    assert model in announcement and "final training loss" in announcement
    dm = box.slack.open_dm(ADMIN)
    assert any(model in t for t in channel_texts(box, dm))
    assert {u["channel"] for u in box.slack.uploads} == {NOTIFY, dm}
    assert all(u["filename"].endswith(".png") for u in box.slack.uploads)

    user = box.slack.add_user("minji")
    asked = box.slack.post_as_user(user, NOTIFY, f"<@{box.slack.bot_user_id}> hi")
    assert box.wait_for_turn(NOTIFY, asked.ts).model == model


def test_a_failed_job_says_why_and_keeps_the_model(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    box.openai.fail_job(
        job.provider_job_id, code="invalid_training_file", message="Line 3 is not valid JSON."
    )

    tick(box.deps.poller())
    tick(box.deps.poller())

    [notice] = channel_texts(box, NOTIFY)
    assert "invalid_training_file" in notice and "Line 3 is not valid JSON." in notice
    assert "did not change" in notice and "What to try" in notice
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=ModelRef("openai", "base")).model == "base"


def test_cancel_from_slack_cancels_at_the_provider(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    answer = command(box, "cancel job-1")
    assert "cancelled" in answer["text"]
    tick(box.deps.poller())
    assert only_job(box).stage == "cancelled"
    assert any("was cancelled" in t for t in channel_texts(box, NOTIFY))


def test_unknown_statuses_are_tolerated(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    box.openai.advance_job(job.provider_job_id, "running")
    with box.openai.state.lock:  # a status newer than this code
        box.openai.state.jobs[job.provider_job_id]["status"] = "mystery_new_status"
    report = tick(box.deps.poller())
    assert report.errors == 0 and only_job(box).status == "mystery_new_status"


def test_two_schedulers_swap_and_notify_exactly_once(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    model = box.openai.succeed_job(job.provider_job_id)
    other = build_deps(box.settings)
    try:
        barrier = threading.Barrier(2)

        def run(poller: Any) -> None:
            barrier.wait()
            tick(poller)

        threads = [threading.Thread(target=run, args=(d.poller(),)) for d in (box.deps, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tick(other.poller())
    finally:
        other.close()

    with box.deps.session_factory() as session:
        swaps = [h for h in repo.model_history(session) if h.model == model]
    assert len(swaps) == 1
    assert len(channel_texts(box, NOTIFY)) == 1
    assert len([u for u in box.slack.uploads if u["channel"] == NOTIFY]) == 1


class CrashingNotifier:
    def deliver(self, message: Any, save: Any) -> None:
        raise RuntimeError("the process died here")


def test_a_crash_between_swap_and_notification_still_notifies_once(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    model = box.openai.succeed_job(job.provider_job_id)
    crashing = box.deps.poller()
    crashing.notifier = CrashingNotifier()

    tick(crashing)
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=ModelRef("openai", "?")).model == model
    assert channel_texts(box, NOTIFY) == []

    restarted = box.deps.poller()
    restarted.clock = lambda: utcnow() + timedelta(minutes=5)
    tick(restarted)
    tick(restarted)

    assert len(channel_texts(box, NOTIFY)) == 1
    with box.deps.session_factory() as session:
        assert all(row.status == "sent" for row in session.query(Outbox))


def test_a_notification_sent_before_a_crash_is_not_sent_again(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    model = box.openai.succeed_job(only_job(box).provider_job_id)
    real = box.deps.notifier

    class DiesAfterPosting:
        def deliver(self, message: Any, save: Any) -> None:
            real.deliver(message, lambda payload: None)  # posted, but nothing recorded
            raise RuntimeError("the process died before recording it")

    crashing = box.deps.poller()
    crashing.notifier = DiesAfterPosting()
    tick(crashing)
    later = box.deps.poller()
    later.clock = lambda: utcnow() + timedelta(minutes=5)
    tick(later)

    announcements = [t for t in channel_texts(box, NOTIFY) if model in t]
    assert len(announcements) == 1


def test_slack_rate_limits_on_the_notification_are_retried(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    box.openai.succeed_job(only_job(box).provider_job_id)
    box.slack.fail_next("chat.postMessage", status=429, retry_after=0, times=8)

    tick(box.deps.poller())
    later = box.deps.poller()
    later.clock = lambda: utcnow() + timedelta(minutes=15)
    tick(later)

    assert len(channel_texts(box, NOTIFY)) == 1
