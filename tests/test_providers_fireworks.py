"""The fireworks plugin's gateway through the fireworks-ai and openai SDKs, on the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import fireworks
import openai
import pytest

from admin.errors import TunebotError
from admin.providers.base import Deployments, NotReady, ProviderError, TrainRequest
from admin.providers.fireworks import FireworksPlugin
from admin.providers.fireworks_gateway import FireworksGateway
from admin.providers.hosted import deployment_name
from admin.providers.plugin import Phase, ProviderContext
from emulators.fireworks import FireworksEmulator

BASE = "accounts/fireworks/models/llama-v3p1-8b-instruct"
TRAINING = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)


@pytest.fixture
def fireworks_emulator() -> Iterator[FireworksEmulator]:
    with FireworksEmulator() as emu:
        yield emu


@pytest.fixture
def plugin() -> FireworksPlugin:
    return FireworksPlugin()


def _env(emu: FireworksEmulator) -> dict[str, str]:
    return {
        "FIREWORKS_API_KEY": emu.api_key,
        "FIREWORKS_BASE_URL": emu.base_url,
        "FIREWORKS_ACCOUNT_ID": emu.account,
        "FIREWORKS_GPU_HOURLY_USD": "2.90",
    }


def _gateway(plugin: FireworksPlugin, emu: FireworksEmulator) -> FireworksGateway:
    values = plugin.values(_env(emu))
    built = plugin.build(
        values, endpoint=plugin.chat_endpoint(values), context=ProviderContext(today=date.today)
    )
    assert isinstance(built, FireworksGateway)
    return built


@pytest.fixture
def gateway(plugin: FireworksPlugin, fireworks_emulator: FireworksEmulator) -> FireworksGateway:
    return _gateway(plugin, fireworks_emulator)


@pytest.fixture
def dataset(gateway: FireworksGateway, tmp_path: Path) -> str:
    path = tmp_path / "prepared.jsonl"
    path.write_bytes(TRAINING * 5)
    return gateway.upload_training_file(path, filename="team.jsonl")


def test_the_dataset_reaches_fireworks_unchanged_once(
    gateway: FireworksGateway, fireworks_emulator: FireworksEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "prepared.jsonl"
    path.write_bytes(TRAINING * 7)
    name = gateway.upload_training_file(path, filename="team.jsonl")
    dataset_id = name.rsplit("/", 1)[-1]
    assert name == f"accounts/acme/datasets/{dataset_id}"
    assert fireworks_emulator.dataset_data[dataset_id] == TRAINING * 7
    assert fireworks_emulator.datasets[dataset_id]["exampleCount"] == "7"
    assert gateway.upload_training_file(path, filename="team.jsonl") == name  # a retry
    assert len(fireworks_emulator.datasets) == 1


def test_a_supervised_job_is_created_with_the_requested_options(
    gateway: FireworksGateway, fireworks_emulator: FireworksEmulator, dataset: str
) -> None:
    job = gateway.create_job(
        TrainRequest(
            training_file=dataset,
            model=BASE,
            epochs=3,
            learning_rate=1e-4,
            batch_size=32,
            suffix="support",
            extra={"lora_rank": 16},
        )
    )
    sent = fireworks_emulator.jobs[job.id]
    assert job.id.startswith("accounts/acme/supervisedFineTuningJobs/")
    assert sent["dataset"] == dataset and sent["baseModel"] == BASE
    assert sent["epochs"] == 3 and sent["learningRate"] == 1e-4 and sent["batchSize"] == 32
    assert sent["loraRank"] == 16 and sent["displayName"] == "support"
    assert job.status == "JOB_STATE_CREATING" and job.phase == Phase.ACTIVE


def test_a_dpo_job_carries_its_beta(
    gateway: FireworksGateway, fireworks_emulator: FireworksEmulator, dataset: str
) -> None:
    job = gateway.create_job(
        TrainRequest(training_file=dataset, model=BASE, method="dpo", beta=0.2, epochs=2)
    )
    sent = fireworks_emulator.jobs[job.id]
    assert job.id.startswith("accounts/acme/dpoJobs/")
    assert sent["lossConfig"] == {"method": "DPO", "dpo": {"beta": 0.2}}
    assert sent["trainingConfig"]["baseModel"] == BASE and sent["trainingConfig"]["epochs"] == 2


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("JOB_STATE_VALIDATING", Phase.ACTIVE),
        ("JOB_STATE_WRITING_RESULTS", Phase.ACTIVE),
        ("JOB_STATE_COMPLETED", Phase.SUCCEEDED),
        ("JOB_STATE_EARLY_STOPPED", Phase.SUCCEEDED),
        ("JOB_STATE_FAILED", Phase.FAILED),
        ("JOB_STATE_CANCELLED", Phase.CANCELLED),
    ],
)
def test_job_states_map_to_phases(
    gateway: FireworksGateway,
    fireworks_emulator: FireworksEmulator,
    dataset: str,
    state: str,
    phase: Phase,
) -> None:
    job = gateway.create_job(TrainRequest(training_file=dataset, model=BASE))
    fireworks_emulator.set_job_state(job.id, state)
    assert gateway.get_job(job.id).phase == phase


def test_events_are_synthesised_from_progress_changes(
    gateway: FireworksGateway, fireworks_emulator: FireworksEmulator, dataset: str
) -> None:
    job = gateway.create_job(TrainRequest(training_file=dataset, model=BASE))
    first = gateway.list_events(job.id)
    assert [e.message for e in first] == ["Job creating"]
    assert gateway.list_events(job.id, after=first[-1].id) == []  # nothing changed
    fireworks_emulator.set_job_state(job.id, "JOB_STATE_RUNNING", percent=40)
    progressed = gateway.list_events(job.id, after=first[-1].id)
    assert [e.message for e in progressed] == ["Job running, 40% done (epoch 1)"]
    assert progressed[0].data == {"percent": 40, "epoch": 1}


def test_a_failure_quotes_fireworks(
    gateway: FireworksGateway, fireworks_emulator: FireworksEmulator, dataset: str
) -> None:
    job = gateway.create_job(TrainRequest(training_file=dataset, model=BASE))
    fireworks_emulator.fail_job(job.id, "Dataset row 3 has no assistant message")
    failed = gateway.get_job(job.id)
    assert failed.phase == Phase.FAILED
    assert failed.error_message == "Dataset row 3 has no assistant message"


def test_an_unsupported_base_model_is_refused_in_fireworks_words(
    gateway: FireworksGateway, dataset: str
) -> None:
    with pytest.raises(ProviderError) as refused:
        gateway.create_job(TrainRequest(training_file=dataset, model="accounts/x/models/nope"))
    text = str(refused.value)
    assert "Fireworks AI could not create the fine-tuning job" in text
    assert "is not supported for fine-tuning" in text and "HTTP 400" in text and "Next:" in text


def test_cancel(gateway: FireworksGateway, dataset: str) -> None:
    job = gateway.create_job(TrainRequest(training_file=dataset, model=BASE))
    assert gateway.cancel_job(job.id).phase == Phase.CANCELLED


def _trained(gateway: FireworksGateway, emu: FireworksEmulator, dataset: str) -> str:
    job = gateway.create_job(TrainRequest(training_file=dataset, model=BASE))
    emu.succeed_job(job.id)
    return job.id


def test_success_leads_to_one_deployment_answering_at_inference_v1(
    plugin: FireworksPlugin,
    gateway: FireworksGateway,
    fireworks_emulator: FireworksEmulator,
    dataset: str,
) -> None:
    job = gateway.get_job(_trained(gateway, fireworks_emulator, dataset))
    assert isinstance(gateway, Deployments) and gateway.deployment_quote(job) == 2.90
    with pytest.raises(NotReady, match="creating"):
        gateway.make_callable(job)
    fireworks_emulator.set_deployment(deployment_name(job.id), "READY")
    model = gateway.make_callable(job)
    assert model == f"accounts/acme/models/{job.id.rsplit('/', 1)[-1]}"
    assert len(fireworks_emulator.deployments) == 1
    deployed = fireworks_emulator.deployments[deployment_name(job.id)]
    assert deployed["baseModel"] == model and deployed["minReplicaCount"] == 1
    endpoint = plugin.chat_endpoint(plugin.values(_env(fireworks_emulator)))
    assert endpoint.base_url == f"{fireworks_emulator.origin}/inference/v1"
    chat = openai.OpenAI(base_url=endpoint.base_url, api_key=fireworks_emulator.api_key)
    streamed = chat.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text.startswith(f"[{model}]")
    assert gateway.is_answering(model) and gateway.hourly_cost(model) == 2.90
    assert gateway.undeploy(model) and not gateway.list_deployments()


def test_a_restart_mid_deployment_creates_no_second_deployment(
    plugin: FireworksPlugin,
    gateway: FireworksGateway,
    fireworks_emulator: FireworksEmulator,
    dataset: str,
) -> None:
    job = gateway.get_job(_trained(gateway, fireworks_emulator, dataset))
    with pytest.raises(NotReady):
        gateway.make_callable(job)
    restarted = _gateway(plugin, fireworks_emulator)
    with pytest.raises(NotReady):
        restarted.make_callable(job)
    fireworks_emulator.set_deployment(deployment_name(job.id), "READY")
    assert restarted.make_callable(job) == job.fine_tuned_model
    assert len(fireworks_emulator.deployments) == 1


def test_a_failed_deployment_quotes_fireworks(
    gateway: FireworksGateway, fireworks_emulator: FireworksEmulator, dataset: str
) -> None:
    job = gateway.get_job(_trained(gateway, fireworks_emulator, dataset))
    with pytest.raises(NotReady):
        gateway.make_callable(job)
    fireworks_emulator.set_deployment(deployment_name(job.id), "FAILED", "out of H100 capacity")
    with pytest.raises(ProviderError, match="out of H100 capacity"):
        gateway.make_callable(job)


def test_rate_limits_and_server_errors_are_retried(
    gateway: FireworksGateway, fireworks_emulator: FireworksEmulator, dataset: str
) -> None:
    job = gateway.create_job(TrainRequest(training_file=dataset, model=BASE))
    fireworks_emulator.fail_next("jobs", status=429, retry_after=0)
    fireworks_emulator.fail_next("jobs", status=500, retry_after=0)
    assert gateway.get_job(job.id).id == job.id
    fireworks_emulator.fail_next(
        "jobs", status=429, times=3, retry_after=0, message="Quota exceeded for fine-tuning jobs"
    )
    with pytest.raises(ProviderError, match=r"Quota exceeded.*HTTP 429"):
        gateway.get_job(job.id)


def test_the_account_id_is_required_with_the_key(plugin: FireworksPlugin) -> None:
    assert not plugin.is_configured({"FIREWORKS_API_KEY": "fw_x"})
    assert plugin.is_configured({"FIREWORKS_API_KEY": "fw_x", "FIREWORKS_ACCOUNT_ID": "acme"})
    needed = [s.variable for s in plugin.missing({})]
    assert needed == ["FIREWORKS_API_KEY", "FIREWORKS_ACCOUNT_ID"]
    values = plugin.values({"FIREWORKS_API_KEY": "fw_x"})
    with pytest.raises(TunebotError, match="FIREWORKS_ACCOUNT_ID"):
        plugin.build(
            values,
            endpoint=plugin.chat_endpoint(values),
            context=ProviderContext(today=date.today),
        )


def test_an_empty_dataset_is_refused_in_fireworks_words(
    gateway: FireworksGateway, tmp_path: Path
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n")
    with pytest.raises(
        ProviderError, match="could not upload the dataset: the uploaded file is empty"
    ):
        gateway.upload_training_file(path, filename="empty.jsonl")


def test_a_large_dataset_goes_through_a_signed_url_unchanged(
    plugin: FireworksPlugin, fireworks_emulator: FireworksEmulator, tmp_path: Path
) -> None:
    emu = fireworks_emulator
    client = fireworks.Fireworks(api_key=emu.api_key, account_id=emu.account, base_url=emu.base_url)
    chat = openai.OpenAI(api_key=emu.api_key, base_url=f"{emu.origin}/inference/v1")
    # A one-request limit of 64 bytes stands in for Fireworks' 150 MB.
    gateway = FireworksGateway(
        client,
        chat,
        account=emu.account,
        phase=plugin.phase,
        capabilities=frozenset(),
        direct_limit=64,
    )
    path = tmp_path / "big.jsonl"
    path.write_bytes(TRAINING * 40)
    seen: list[tuple[int, int]] = []
    name = gateway.upload_training_file(
        path, filename="big.jsonl", progress=lambda a, b: seen.append((a, b))
    )
    dataset_id = name.rsplit("/", 1)[-1]
    assert emu.dataset_data[dataset_id] == TRAINING * 40
    assert emu.datasets[dataset_id]["state"] == "READY"
    assert ("POST", f"/v1/accounts/acme/datasets/{dataset_id}:validateUpload") in emu.calls
    assert seen[-1] == (len(TRAINING * 40), len(TRAINING * 40))
