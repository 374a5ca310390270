"""The Home tab, driven through the Slack emulator: what members and admins see, the admin
buttons behind the admin middleware, refreshes when a job moves or the model switches, and
Slack's limits however much there is to show."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient

from admin.home import (
    Feedback,
    HomeData,
    JobLine,
    LastEvaluation,
    PaidDeployment,
    Spend,
)
from admin.plans import Progress
from admin.poller import tick
from admin.providers.hosted import deployment_name
from admin.usage import usd
from bot.home_views import PROMOTE_ACTION, ROLLBACK_ACTION, UNDEPLOY_ACTION, build_home_view
from emulators.sandbox import Sandbox
from emulators.together import TogetherEmulator
from storage import job_repo, repo
from storage.models import AuditEntry, Job, Turn, utcnow
from storage.repo import ModelRef
from tests.home_helpers import (
    buttons,
    install_manifest,
    open_home,
    published,
    republished,
    script_evaluation,
    text_of,
    train_with_held_out,
)
from tests.sandbox_helpers import ADMIN, NOTIFY, command, only_job, upload
from tests.usage_helpers import openai_cost


@pytest.fixture
def home(box: Sandbox) -> Sandbox:
    install_manifest(box)
    return box


def _active(box: Sandbox) -> ModelRef:
    with box.deps.session_factory() as session:
        return repo.get_active_model(session, default=box.deps.base_model)


def _stage(box: Sandbox, label: str = "job-1") -> str:
    with box.deps.session_factory() as session:
        job = job_repo.find_job(session, ref=label)
        assert job is not None
        return job.stage


def _audited(box: Sandbox, action: str) -> list[AuditEntry]:
    def found() -> list[AuditEntry] | None:
        with box.deps.session_factory() as session:
            rows = session.query(AuditEntry).filter(AuditEntry.action == action).all()
        return rows or None

    return box.slack.wait_for(found)


def _held_back(box: Sandbox) -> str:
    job, references = train_with_held_out(box)
    model = box.openai.succeed_job(job.provider_job_id)
    script_evaluation(box, model, references, candidate="잘 모르겠습니다.")
    tick(box.deps.poller())
    assert _stage(box) == "held_back"
    return model


def _click(box: Sandbox, user: str, action_id: str, value: str | None = None) -> dict[str, Any]:
    """Click a button on `user`'s Home tab; the view published after it."""
    before = published(box, user)
    assert box.slack.click_home_button(user, action_id, value) == 200
    return republished(box, user, before)


def test_a_member_sees_which_model_answers_where_and_how_to_rate(home: Sandbox) -> None:
    user = home.slack.add_user("minji")

    view = open_home(home, user)

    text = text_of(view)
    label = home.deps.providers.label(home.settings.base_model_provider)
    assert f"Every channel without its own model: `{home.settings.base_model}` at {label}" in text
    assert "👍 and 👎" in text and "suggest a better answer" in text
    assert "Dashboard" not in text and buttons(view) == []


def test_an_admin_sees_jobs_progress_the_last_evaluation_feedback_spend_and_buttons(
    home: Sandbox,
) -> None:
    _held_back(home)
    member = home.slack.add_user("minji")
    asked = home.slack.post_as_user(member, NOTIFY, f"<@{home.slack.bot_user_id}> 배포는?")
    home.wait_for_turn(NOTIFY, asked.ts)
    [answer] = [m for m in home.slack.messages(NOTIFY, asked.ts) if m.get("bot_id")]
    home.slack.click_feedback(member, NOTIFY, answer["ts"], positive=True)
    home.slack.wait_for(lambda: [e for e in home.slack.ephemeral if e["user"] == member])
    command(home, "train ds-1")
    with home.deps.session_factory() as session:
        second = job_repo.find_job(session, ref="job-2")
        assert second is not None
    home.openai.train_steps(second.provider_job_id, 3, steps=10)
    tick(home.deps.poller())

    view = open_home(home, ADMIN)

    text = text_of(view)
    assert "Dashboard" in text
    assert "*job-2*" in text and "training, step 3 of 10 (30%)" in text
    assert "*job-1* was held back by its evaluation" in text
    assert "*Last evaluation* (job-1, was held back)" in text and "vs 100.0" in text
    assert "👍 1 · 👎 0 · 0 better answers suggested" in text
    assert f"*Spend in {utcnow():%Y-%m}*" in text
    with home.deps.session_factory() as session:
        estimated = sum(j.estimated_cost_usd or 0 for j in session.query(Job))
    assert f"• Training: ${estimated:,.2f} estimated for 2 jobs started this month" in text
    with home.deps.session_factory() as session:
        answers = session.query(Turn).filter(Turn.outcome == "answered").all()
    assert len(answers) == 1 and answers[0].completion_tokens
    assert f"• Answering (tokens): {usd(openai_cost(answers))}" in text
    assert buttons(view) == [(PROMOTE_ACTION, "job-1")]


def test_promote_and_rollback_buttons_act_as_the_slash_command_does(home: Sandbox) -> None:
    model = _held_back(home)
    open_home(home, ADMIN)

    view = _click(home, ADMIN, PROMOTE_ACTION, "job-1")

    assert f"Promoted job-1: tunebot answers with `{model}` now." in text_of(view)
    assert _stage(home) == "live" and _active(home).model == model
    [entry] = _audited(home, "home promote")
    assert entry.user_id == ADMIN and entry.outcome.startswith(":white_check_mark: Promoted")
    base = home.deps.base_model
    rollback = json.dumps({"provider": base.provider, "model": base.model})
    assert (ROLLBACK_ACTION, rollback) in buttons(view)

    view = _click(home, ADMIN, ROLLBACK_ACTION)

    assert f"Rolled tunebot back to `{base.model}`." in text_of(view)
    assert _active(home) == base
    _audited(home, "home rollback")
    with home.deps.session_factory() as session:
        assert repo.model_history(session)[0].set_by_user == ADMIN


def test_a_non_admins_clicks_are_refused_and_change_nothing(home: Sandbox) -> None:
    _held_back(home)
    member = home.slack.add_user("minji")
    base = home.deps.base_model
    clicks = [
        (PROMOTE_ACTION, "job-1"),
        (ROLLBACK_ACTION, json.dumps({"provider": base.provider, "model": base.model})),
        (UNDEPLOY_ACTION, json.dumps({"provider": "openai", "model": "anything"})),
    ]
    for action_id, value in clicks:  # as Slack would send them from a Home tab
        payload = {
            "type": "block_actions",
            "container": {"type": "view", "view_id": "V0FORGED"},
            "actions": [
                {"type": "button", "action_id": action_id, "block_id": "b", "value": value}
            ],
        }
        assert home.slack.send_interaction(member, payload) == 200

    with home.deps.session_factory() as session:
        refusals = session.query(AuditEntry).filter(AuditEntry.outcome == "refused: not an admin")
        assert sorted(r.action for r in refusals) == sorted(f"action {a}" for a, _ in clicks)
        assert not session.query(AuditEntry).filter(AuditEntry.action.like("home %")).count()
    assert _stage(home) == "held_back" and _active(home) == base
    assert home.slack.home_tab(member) is None


def test_home_refreshes_when_a_job_moves_and_when_the_model_switches(home: Sandbox) -> None:
    upload(home)
    command(home, "train ds-1")
    member = home.slack.add_user("minji")
    admin_view, member_view = open_home(home, ADMIN), open_home(home, member)
    assert "*job-1*" in text_of(admin_view)
    job = only_job(home)

    home.openai.train_steps(job.provider_job_id, 4, steps=10)
    tick(home.deps.poller())  # the outbox is drained in the tick: refreshes are done after it

    admin_view = republished(home, ADMIN, admin_view["hash"])
    assert "training, step 4 of 10 (40%)" in text_of(admin_view)
    assert published(home, member) == member_view["hash"]  # progress is for the dashboard

    model = home.openai.succeed_job(job.provider_job_id)
    tick(home.deps.poller())  # job-1 goes live: its moves and the switch refresh both tabs

    admin_view = republished(home, ADMIN, admin_view["hash"])
    member_view = republished(home, member, member_view["hash"])
    assert "No job is running" in text_of(admin_view)
    assert f"`{model}`" in text_of(member_view)
    assert buttons(admin_view) == [
        (ROLLBACK_ACTION, json.dumps({"provider": "openai", "model": home.settings.base_model}))
    ]

    command(home, "rollback")  # a switch no job made: seen on the next tick
    before = member_view["hash"]
    tick(home.deps.poller())
    member_view = republished(home, member, before)
    assert f"`{home.settings.base_model}`" in text_of(member_view)
    tick(home.deps.poller())
    assert published(home, member) == member_view["hash"]  # no switch since: no refresh


def test_opening_home_long_ago_gets_no_refresh_until_opened_again(home: Sandbox) -> None:
    member = home.slack.add_user("minji")
    view = open_home(home, member)
    upload(home)
    command(home, "train ds-1")
    home.openai.succeed_job(only_job(home).provider_job_id)
    later = home.deps.poller()
    later.clock = lambda: utcnow() + timedelta(days=31)
    tick(later)

    assert published(home, member) == view["hash"]
    assert "ft:" in text_of(open_home(home, member))


@pytest.fixture
def together() -> Iterator[TogetherEmulator]:
    with TogetherEmulator() as emu:
        yield emu


@pytest.fixture
def hosted(database_url: str, together: TogetherEmulator) -> Iterator[Sandbox]:
    """Jobs at Together AI, whose models answer from paid deployments."""
    with Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=NOTIFY,
        provider_env={"TOGETHER_API_KEY": together.api_key, "TOGETHER_BASE_URL": together.base_url},
        provider="together",
        base_provider="openai",
        confirm_above_usd=1000.0,
    ) as box:
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_channel("ml", channel_id=NOTIFY)
        install_manifest(box)
        yield box


def _deployed(box: Sandbox, together: TogetherEmulator, label: str) -> str:
    command(box, "train ds-1")
    with box.deps.session_factory() as session:
        job = job_repo.find_job(session, ref=label)
        assert job is not None
        remote = job.provider_job_id
    together.succeed_job(remote)
    tick(box.deps.poller())
    together.set_deployment_state(deployment_name(remote), "DEPLOYMENT_STATE_READY")
    tick(box.deps.poller())
    assert _stage(box, label) == "live"
    return _active(box).model


def test_paid_deployments_show_their_daily_cost_and_undeploy_removes_one(
    hosted: Sandbox, together: TogetherEmulator
) -> None:
    upload(hosted)
    first = _deployed(hosted, together, "job-1")
    second = _deployed(hosted, together, "job-2")
    command(hosted, f"use {hosted.settings.base_model} provider=openai")  # job-2: rollback target

    view = open_home(hosted, ADMIN)

    text = text_of(view)
    assert "*Paid deployments*" in text
    assert f"`{first}` at Together AI" in text and f"`{second}` at Together AI" in text
    assert "$95.76 a day" in text and "Kept: it is the rollback target." in text
    assert "• Paid deployments: $191.52 a day now" in text
    undeploy = json.dumps({"provider": "together", "model": first})
    assert (UNDEPLOY_ACTION, undeploy) in buttons(view)
    assert not [v for a, v in buttons(view) if a == UNDEPLOY_ACTION and second in v]

    view = _click(hosted, ADMIN, UNDEPLOY_ACTION, undeploy)

    assert f"Removed the deployment of `{first}`" in text_of(view)
    assert together.endpoint_named(first.rsplit("/", 1)[-1]) is None
    listed = [line for line in text_of(view).splitlines() if "at Together AI (" in line]
    assert len(listed) == 1 and f"`{second}`" in listed[0]
    _audited(hosted, "home undeploy")


def test_the_view_stays_within_slacks_limits_however_much_there_is(box: Sandbox) -> None:
    install_manifest(box)
    client = WebClient(token=box.slack.bot_token, base_url=box.slack.api_url)
    long = "m" * 200
    data = HomeData(
        is_admin=True,
        models=[(f"C{n:08d}", ModelRef("openai", f"ft:{long}:{n}")) for n in range(500)],
        jobs=[
            JobLine(f"job-{n}", "openai", long, "training", ADMIN, Progress(n, 1000))
            for n in range(300)
        ],
        more_jobs=4000,
        held_back=[JobLine(f"job-{n}", "openai", long, "held_back", ADMIN) for n in range(40)],
        rollback_to=ModelRef("openai", long),
        last_evaluation=LastEvaluation("job-1", long, "x" * 2900, "live", utcnow()),
        feedback=Feedback(30, 10**6, 10**6, 10**6),
        deployments=[PaidDeployment("together", f"{long}-{n}", "READY", 95.76) for n in range(80)],
        spend=Spend("2026-12", 10**6, 4000, 10**6, 3),
    )
    view = build_home_view(data, label=box.deps.providers.label, note="n" * 5000)

    assert client.views_publish(user_id=ADMIN, view=view)["ok"]
    stored = box.slack.home_tab(ADMIN)
    assert stored is not None and len(stored["blocks"]) <= 100
    assert "…and" in text_of(stored)  # what did not fit is counted, not cut off silently


def test_usage_and_the_dashboard_count_what_paid_deployments_cost_this_month(
    hosted: Sandbox, together: TogetherEmulator
) -> None:
    upload(hosted)
    model = _deployed(hosted, together, "job-1")

    report = command(hosted, "usage")

    text = "\n".join(b["text"]["text"] for b in report["blocks"] if b["type"] == "section")
    found = re.search(
        rf"• `{re.escape(model)}` at Together AI \(\S+\): \$95\.76 a day, "
        r"\$(\S+) so far this month",
        text,
    )
    assert found, text
    # Started seconds ago, at $3.99 an hour: well under a cent so far.
    assert 0 < float(found[1]) < 0.01
    home = text_of(open_home(hosted, ADMIN))
    assert re.search(r"• Paid deployments: \$95\.76 a day now, \$0\.\d+ so far this month", home)
