"""End to end in Slack with Together AI and Fireworks AI: DM a dataset, train, deploy, answer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from admin.job_stages import JobStage
from admin.poller import tick
from admin.providers.hosted import deployment_name
from bot.deps import build_deps
from emulators.fireworks import FireworksEmulator
from emulators.hosted import HostedEmulator
from emulators.sandbox import Sandbox
from emulators.together import TogetherEmulator
from storage import repo
from storage.repo import ModelRef
from tests.sandbox_helpers import ADMIN, NOTIFY, channel_texts, command, only_job, upload


@dataclass
class Hosted:
    """One hosted provider's emulator and how a test moves it along."""

    name: str
    emu: HostedEmulator

    def env(self) -> dict[str, str]:
        if isinstance(self.emu, TogetherEmulator):
            return {"TOGETHER_API_KEY": self.emu.api_key, "TOGETHER_BASE_URL": self.emu.base_url}
        assert isinstance(self.emu, FireworksEmulator)
        return {
            "FIREWORKS_API_KEY": self.emu.api_key,
            "FIREWORKS_BASE_URL": self.emu.base_url,
            "FIREWORKS_ACCOUNT_ID": self.emu.account,
            "FIREWORKS_GPU_HOURLY_USD": "2.90",
        }

    def received(self) -> list[bytes]:
        if isinstance(self.emu, TogetherEmulator):
            return list(self.emu.file_data.values())
        assert isinstance(self.emu, FireworksEmulator)
        return list(self.emu.dataset_data.values())

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.emu.jobs[job_id])  # type: ignore[attr-defined]

    def succeed(self, job_id: str) -> None:
        self.emu.succeed_job(job_id)  # type: ignore[attr-defined]

    def fail(self, job_id: str, message: str) -> None:
        self.emu.fail_job(job_id, message)  # type: ignore[attr-defined]

    def ready(self, job_id: str) -> None:
        if isinstance(self.emu, TogetherEmulator):
            self.emu.set_deployment_state(deployment_name(job_id), "DEPLOYMENT_STATE_READY")
        else:
            assert isinstance(self.emu, FireworksEmulator)
            self.emu.set_deployment(deployment_name(job_id), "READY")

    def deployments(self) -> int:
        if isinstance(self.emu, TogetherEmulator):
            return sum(len(e["_deployments"]) for e in self.emu.endpoints.values())
        assert isinstance(self.emu, FireworksEmulator)
        return len(self.emu.deployments)


@pytest.fixture(params=["together", "fireworks"])
def hosted(request: pytest.FixtureRequest) -> Iterator[Hosted]:
    emu: HostedEmulator = TogetherEmulator() if request.param == "together" else FireworksEmulator()
    with emu:
        yield Hosted(request.param, emu)


def _box(database_url: str, hosted: Hosted, **overrides: Any) -> Sandbox:
    box = Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=NOTIFY,
        provider_env=hosted.env(),
        provider=hosted.name,  # new jobs go to the hosted provider
        base_provider="openai",  # the base model answers at the OpenAI emulator
        **({"confirm_above_usd": 1000.0} | overrides),
    )
    box.slack.add_user("admin", user_id=ADMIN)
    box.slack.add_channel("ml", channel_id=NOTIFY)
    return box


@pytest.fixture
def box(database_url: str, hosted: Hosted) -> Iterator[Sandbox]:
    with _box(database_url, hosted) as b:
        yield b


def test_a_dm_dataset_trains_deploys_once_and_answers(box: Sandbox, hosted: Hosted) -> None:
    upload(box)
    answer = command(box, "train ds-1 epochs=2")
    assert "started *job-1*" in answer["text"]
    job = only_job(box)
    assert job.provider == hosted.name
    [sent] = hosted.received()
    assert sent.count(b"\n") == 12 and b'"messages"' in sent  # the stored JSONL, as stored
    remote = hosted.job(job.provider_job_id)
    assert remote.get("n_epochs", remote.get("epochs")) == 2

    hosted.succeed(job.provider_job_id)
    tick(box.deps.poller())  # trained: the deployment is created and provisions
    assert hosted.deployments() == 1 and only_job(box).stage == JobStage.DEPLOY_APPROVED
    tick(box.deps.poller())  # still provisioning: nothing new is created
    assert hosted.deployments() == 1
    hosted.ready(job.provider_job_id)
    report = tick(box.deps.poller())
    assert report.went_live == ["live"] and hosted.deployments() == 1

    with box.deps.session_factory() as session:
        active = repo.get_active_model(session, default=ModelRef("openai", "?"))
    assert active.provider == hosted.name
    [announcement] = channel_texts(box, NOTIFY)
    trained = only_job(box).fine_tuned_model
    assert trained is not None
    # The trained model as the provider's dashboard lists it, and where it answers when that
    # is another name (Together's endpoint); the status and the model list say the same.
    named = f"`{trained}`" + ("" if trained == active.model else f" (served as `{active.model}`)")
    assert named in announcement
    assert (trained == active.model) == (hosted.name == "fireworks")
    assert named in command(box, "status job-1")["text"]
    assert named in command(box, "models")["text"]
    user = box.slack.add_user("minji")
    asked = box.slack.post_as_user(user, NOTIFY, f"<@{box.slack.bot_user_id}> hi")
    assert box.wait_for_turn(NOTIFY, asked.ts).model == active.model
    assert hosted.emu.chat_requests[-1]["model"] == active.model
    assert hosted.emu.chat_requests[-1].get("stream") is True
    daily = {"together": "$95.76/day", "fireworks": "$69.60/day"}[hosted.name]
    for listing in ("models", "providers"):
        shown = command(box, listing)["text"]
        assert "*Deployments*" in shown and daily in shown and active.model in shown


def test_a_restart_mid_deployment_creates_no_second_deployment(
    box: Sandbox, hosted: Hosted
) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    hosted.succeed(job.provider_job_id)
    tick(box.deps.poller())
    restarted = build_deps(box.settings)  # a new process: new clients, nothing in memory
    try:
        tick(restarted.poller())
        hosted.ready(job.provider_job_id)
        assert tick(restarted.poller()).went_live == ["live"]
    finally:
        restarted.close()
    assert hosted.deployments() == 1


def test_a_failure_is_announced_once_in_the_providers_words(box: Sandbox, hosted: Hosted) -> None:
    upload(box)
    command(box, "train ds-1")
    job = only_job(box)
    hosted.fail(job.provider_job_id, "Training file line 3 has no assistant message")
    tick(box.deps.poller())
    tick(box.deps.poller())
    [notice] = channel_texts(box, NOTIFY)
    assert "Training file line 3 has no assistant message" in notice and "did not change" in notice
    assert hosted.deployments() == 0
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=ModelRef("openai", "b")).model == "b"


def test_cancel_from_slack(box: Sandbox, hosted: Hosted) -> None:
    upload(box)
    command(box, "train ds-1")
    answer = command(box, "cancel job-1")
    assert "asked to cancel job-1" in answer["text"]


def test_a_non_admin_causes_no_call(box: Sandbox, hosted: Hosted) -> None:
    upload(box)
    before = len(hosted.emu.calls)
    answer = command(box, "train ds-1", user=box.slack.add_user("minji"))
    assert "Only tunebot admins" in answer["text"] and len(hosted.emu.calls) == before


def test_a_costly_deployment_waits_for_deploy(database_url: str, hosted: Hosted) -> None:
    with _box(database_url, hosted, confirm_above_usd=5.0) as box:
        upload(box)
        command(box, "train ds-1")
        job = only_job(box)
        hosted.succeed(job.provider_job_id)
        tick(box.deps.poller())
        tick(box.deps.poller())
        assert only_job(box).stage == JobStage.AWAITING_DEPLOYMENT and hosted.deployments() == 0
        [asked] = [t for t in _texts(box) if "/finetune deploy job-1" in t]
        assert "/day" in asked
        assert "approved the deployment" in command(box, "deploy job-1")["text"]
        tick(box.deps.poller())
        assert hosted.deployments() == 1


def _texts(box: Sandbox) -> list[str]:
    return [m.get("text") or "" for m in box.slack.messages(NOTIFY) if m.get("bot_id")]
