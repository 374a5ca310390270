"""Model lifecycle from Slack: list, use, rollback, job details, shutdown warnings, Nebius."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from admin.lifecycle import check_shutdown
from admin.poller import tick
from emulators.sandbox import Sandbox
from storage import repo
from storage.models import utcnow
from storage.repo import ModelRef
from tests.sandbox_helpers import ADMIN, NOTIFY, channel_texts, command, only_job, upload


def _live_job(box: Sandbox) -> str:
    upload(box)
    command(box, "train ds-1")
    model = box.openai.succeed_job(only_job(box).provider_job_id)
    tick(box.deps.poller())
    return model


def test_models_lists_history_with_the_active_one_and_shutdown_dates(box: Sandbox) -> None:
    model = _live_job(box)
    box.openai.set_shutdown_date(model, "2027-01-14")

    listing = command(box, "models")["text"]

    assert f"★ `{model}`" in listing and "from job-1" in listing
    assert "at OpenAI" in listing and "stops answering on *2027-01-14*" in listing


def test_rollback_returns_to_the_previous_model_and_use_switches_again(box: Sandbox) -> None:
    model = _live_job(box)

    rolled = command(box, "rollback")
    assert rolled["response_type"] == "in_channel" and box.settings.base_model in rolled["text"]
    with box.deps.session_factory() as session:
        assert (
            repo.get_active_model(session, default=ModelRef("openai", "?")).model
            == box.settings.base_model
        )
        assert repo.model_history(session)[0].set_by_user == ADMIN

    used = command(box, f"use {model}")
    assert "switched tunebot" in used["text"]
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=ModelRef("openai", "?")).model == model


def test_use_refuses_a_model_tunebot_does_not_know(box: Sandbox) -> None:
    answer = command(box, "use gpt-made-up")
    assert "not a model tunebot knows" in answer["text"]


def test_status_events_and_checkpoints_show_the_job(box: Sandbox) -> None:
    _live_job(box)

    status = command(box, "status job-1")["text"]
    events = command(box, "events job-1")["text"]
    checkpoints = command(box, "checkpoints job-1")["text"]

    assert "status: *succeeded*" in status and "stage: live" in status
    assert "latest events" in events and "[info]" in events
    assert "step" in checkpoints


def test_pause_and_resume_reach_the_provider(box: Sandbox) -> None:
    upload(box)
    command(box, "train ds-1")
    box.openai.advance_job(only_job(box).provider_job_id, "running")

    assert "now *paused*" in command(box, "pause job-1")["text"]
    assert "now *running*" in command(box, "resume job-1")["text"]


def test_the_shutdown_warning_is_sent_once_per_threshold(box: Sandbox) -> None:
    model = _live_job(box)
    today = date(2026, 12, 10)
    box.openai.set_shutdown_date(model, (today + timedelta(days=6)).isoformat())

    for _ in range(3):
        left = check_shutdown(
            box.deps.session_factory,
            box.deps.providers,
            default_model=box.deps.base_model,
            notify_channel=NOTIFY,
            today=today,
        )
    tick(box.deps.poller())
    assert left == 6
    warnings = [t for t in channel_texts(box, NOTIFY) if t.startswith(":warning:")]
    assert len(warnings) == 1 and "6 days" in warnings[0] and model in warnings[0]

    check_shutdown(
        box.deps.session_factory,
        box.deps.providers,
        default_model=box.deps.base_model,
        notify_channel=NOTIFY,
        today=today + timedelta(days=5),
    )
    tick(box.deps.poller())
    warnings = [t for t in channel_texts(box, NOTIFY) if t.startswith(":warning:")]
    assert len(warnings) == 2 and "1 day from now" in warnings[1]


def test_openai_fine_tunes_are_known_to_shut_down_even_unreported(box: Sandbox) -> None:
    left = check_shutdown(
        box.deps.session_factory,
        box.deps.providers,
        default_model=box.deps.base_model,
        notify_channel=NOTIFY,
        today=date(2027, 1, 7),
    )
    assert left == 7  # gpt-4o-mini-2024-07-18 and its fine-tunes end on 2027-01-14


def test_the_nebius_backend_deploys_the_model_before_swapping(database_url: str) -> None:
    with Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=NOTIFY,
        provider="nebius",
        serve_as=("nebius",),
    ) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        b.slack.add_channel("ml", channel_id=NOTIFY)
        b.openai.activation_polls = 2
        upload(b)
        command(b, "train ds-1")
        b.openai.succeed_job(only_job(b).provider_job_id)

        tick(b.deps.poller())
        assert only_job(b).stage == "succeeded"  # the deployment is still pending
        with b.deps.session_factory() as session:
            assert repo.get_active_model(session, default=b.deps.base_model) == b.deps.base_model
        for _ in range(5):
            if tick(b.deps.poller()).went_live:
                break

        job = only_job(b)
        assert job.stage == "live" and job.callable_model
        with b.deps.session_factory() as session:
            assert repo.get_active_model(session, default=b.deps.base_model) == ModelRef(
                "nebius", job.callable_model
            )
        user = b.slack.add_user("minji")
        asked = b.slack.post_as_user(user, NOTIFY, f"<@{b.slack.bot_user_id}> hi")
        assert b.wait_for_turn(NOTIFY, asked.ts).model == job.callable_model


def test_a_model_still_deploying_after_ten_minutes_is_announced_once(database_url: str) -> None:
    with Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=NOTIFY,
        provider="nebius",
        serve_as=("nebius",),
    ) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        b.slack.add_channel("ml", channel_id=NOTIFY)
        b.openai.activation_polls = 1000  # the deployment never becomes active here
        upload(b)
        command(b, "train ds-1")
        b.openai.succeed_job(only_job(b).provider_job_id)

        tick(b.deps.poller())  # just trained: waiting is normal
        assert not [t for t in channel_texts_all(b) if ":hourglass:" in t]
        later = replace(b.deps.poller(), clock=lambda: utcnow() + timedelta(minutes=11))
        tick(later)
        tick(later)

        waiting = [t for t in channel_texts_all(b) if ":hourglass:" in t]
        assert len(waiting) == 1 and "job-1 finished training" in waiting[0]
        assert only_job(b).stage == "succeeded"


def channel_texts_all(box: Sandbox) -> list[str]:
    return [m.get("text") or "" for m in box.slack.messages(NOTIFY) if m.get("bot_id")]
