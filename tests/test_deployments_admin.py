"""The cost gate before a paid deployment (a job's move), and what undeploy refuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from admin import deployments, job_stages
from admin.announce import Kind
from admin.errors import TunebotError
from admin.job_stages import JobStage
from admin.outbox import RetryLater
from admin.poller import PollerDeps
from admin.providers.base import NotReady, TrainRequest
from admin.providers.hosted import deployment_name
from admin.providers.registry import Providers, Registry
from admin.providers.together import Together
from emulators.together import TogetherEmulator
from storage import job_repo, outbox, repo
from storage.db import SessionFactory
from storage.models import Job
from storage.repo import ModelRef

BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@pytest.fixture
def together_emulator() -> Iterator[TogetherEmulator]:
    with TogetherEmulator() as emu:
        yield emu


@pytest.fixture
def gateway(together_emulator: TogetherEmulator) -> Together:
    env = {
        "TOGETHER_API_KEY": together_emulator.api_key,
        "TOGETHER_BASE_URL": together_emulator.base_url,
    }
    built = Providers.from_env(env, registry=Registry.discover(), default="together").get(None)
    assert isinstance(built, Together)
    return built


def _succeeded_job(
    session_factory: SessionFactory, gateway: Together, emu: TogetherEmulator
) -> tuple[int, str]:
    emu.files["file-1"] = {"id": "file-1"}
    job = gateway.create_job(TrainRequest("file-1", BASE, gateway.Options()))
    emu.succeed_job(job.id)
    with session_factory.begin() as session:
        row = job_repo.create_job(
            session,
            values={
                "provider": "together",
                "provider_job_id": job.id,
                "base_model": BASE,
                "method": "supervised",
                "hyperparameters": {},
                "started_by": "U1",
                "channel_id": "C1",
                "status": "completed",
                "stage": JobStage.TRAINING,
            },
        )
        job_repo.advance_stage(
            session, job_id=row.id, from_stages=["training"], to_stage="succeeded"
        )
        job_repo.update_job(
            session,
            job_id=row.id,
            values={"fine_tuned_model": job.fine_tuned_model, "provider_result": None},
        )
        return row.id, job.id


class Silent:
    """A Notifier for tests that read the outbox instead of Slack."""

    def deliver(self, message: object, save: object) -> None:
        raise RetryLater("not sending in this test")


def _poller(session_factory: SessionFactory, emu: TogetherEmulator, threshold: float) -> PollerDeps:
    env = {"TOGETHER_API_KEY": emu.api_key, "TOGETHER_BASE_URL": emu.base_url}
    providers = Providers.from_env(env, registry=Registry.discover(), default="together")
    return PollerDeps(
        providers=providers,
        session_factory=session_factory,
        notifier=Silent(),
        notify_channel="C0NOTIFY",
        confirm_above_usd=threshold,
    )


def test_a_costly_deployment_waits_for_approval_once(
    session_factory: SessionFactory, gateway: Together, together_emulator: TogetherEmulator
) -> None:
    job_id, _ = _succeeded_job(session_factory, gateway, together_emulator)
    poller = _poller(session_factory, together_emulator, threshold=50.0)
    for _ in range(2):  # a second scheduler, or the next tick
        assert job_stages.advance(poller, job_id) == JobStage.AWAITING_DEPLOYMENT
    with session_factory() as session:
        pending = outbox.pending(session)
    queued = [q for q in pending if q.kind == Kind.DEPLOY_CONFIRM]
    # Asked once in the channel and once of the admin who started it, with the daily cost;
    # the admin's plan message says it waits, once.
    assert [q.channel for q in queued] == ["C0NOTIFY", "U1"]
    plans = [q.payload["plan"] for q in pending if q.kind == Kind.JOB_PLAN]
    assert [p["title"] for p in plans] == [
        f"job-{job_id}: trained, waiting for an admin to approve its deployment"
    ]
    assert all("$3.99/hour ($95.76/day)" in q.payload["text"] for q in queued)
    assert not together_emulator.endpoints  # nothing was deployed
    label = job_stages.approve_deployment(session_factory, ref=f"job-{job_id}")
    with session_factory() as session:
        assert session.get(Job, job_id).stage == JobStage.DEPLOY_APPROVED  # type: ignore[union-attr]
    with pytest.raises(TunebotError, match="not waiting"):
        job_stages.approve_deployment(session_factory, ref=label)


def test_a_cheap_deployment_is_approved_and_not_asked_again(
    session_factory: SessionFactory, gateway: Together, together_emulator: TogetherEmulator
) -> None:
    job_id, _ = _succeeded_job(session_factory, gateway, together_emulator)
    poller = _poller(session_factory, together_emulator, threshold=500.0)

    # Approved at once; the endpoint is created and provisions (not callable yet).
    assert job_stages.advance(poller, job_id) == JobStage.DEPLOY_APPROVED
    with session_factory() as session:
        assert [q.kind for q in outbox.pending(session)] == [Kind.JOB_PLAN]  # no question
    assert len(together_emulator.endpoints) == 1


def test_undeploy_refuses_the_active_model_and_the_rollback_target(
    session_factory: SessionFactory, gateway: Together
) -> None:
    with session_factory.begin() as session:
        for model in ("acme/oldest", "acme/previous", "acme/current"):
            repo.set_active_model(
                session, model=ModelRef("together", model), reason="use", set_by_user="U1"
            )
    providers = [("together", gateway)]
    base = ModelRef("together", BASE)
    for model, why in (("acme/current", "active model"), ("acme/previous", "rollback target")):
        with pytest.raises(TunebotError, match=why):
            deployments.undeploy(session_factory, providers, model=model, default_model=base)
    with pytest.raises(TunebotError, match="No deployment serves"):
        deployments.undeploy(session_factory, providers, model="acme/oldest", default_model=base)


def test_undeploy_removes_an_old_models_endpoint(
    session_factory: SessionFactory, gateway: Together, together_emulator: TogetherEmulator
) -> None:
    _, provider_id = _succeeded_job(session_factory, gateway, together_emulator)
    job = gateway.get_job(provider_id)
    with pytest.raises(NotReady):
        gateway.make_callable(job)
    together_emulator.set_deployment_state(deployment_name(job.id), "DEPLOYMENT_STATE_READY")
    model = gateway.make_callable(job)
    text = deployments.undeploy(
        session_factory,
        [("together", gateway)],
        model=model,
        default_model=ModelRef("together", BASE),
    )
    assert "Removed the deployment" in text and not together_emulator.endpoints


def test_daily_costs_and_the_threshold() -> None:
    assert job_stages.needs_confirmation(1.0, 23.0)
    assert not job_stages.needs_confirmation(1.0, 24.0)
    assert job_stages.needs_confirmation(None, 1000.0)  # an unknown price is always asked
    lines = deployments.describe([deployments.Deployment("acme/a", "DEPLOYMENT_STATE_READY", 2.0)])
    assert lines == ["• `acme/a` deployed (deployment_state_ready), $48.00/day"]
