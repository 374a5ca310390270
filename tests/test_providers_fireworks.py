"""What only Fireworks does: datasets named by content, its job arguments, progress as events,
its on-demand deployments and its errors (what every provider does is the contract suite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from admin.providers.base import NotReady, ProviderError, TrainRequest
from admin.providers.fireworks import Fireworks
from admin.providers.hosted import deployment_name
from admin.providers.registry import Registry
from tests.provider_drivers import TRAINING, FireworksDriver, hosted_driver


@pytest.fixture
def case() -> Iterator[FireworksDriver]:
    with hosted_driver("fireworks", Registry.discover()) as driver:
        assert isinstance(driver, FireworksDriver)
        yield driver


@pytest.fixture
def provider(case: FireworksDriver) -> Fireworks:
    built = case.provider()
    assert isinstance(built, Fireworks)
    return built


@pytest.fixture
def dataset(provider: Fireworks, case: FireworksDriver, tmp_path: Path) -> str:
    return provider.upload_training_file(case.dataset(tmp_path), filename="team.jsonl")


def _job(provider: Fireworks, dataset: str, model: str, **words: str) -> str:
    return provider.create_job(TrainRequest(dataset, model, provider.read_options(words))).id


def test_a_dataset_is_made_once_by_its_content(
    provider: Fireworks, case: FireworksDriver, tmp_path: Path
) -> None:
    path = tmp_path / "prepared.jsonl"
    path.write_bytes(TRAINING * 7)
    name = provider.upload_training_file(path, filename="team.jsonl")
    dataset_id = name.rsplit("/", 1)[-1]
    assert name == f"accounts/acme/datasets/{dataset_id}"
    assert case.emu.datasets[dataset_id]["exampleCount"] == "7"
    assert provider.upload_training_file(path, filename="team.jsonl") == name  # a retry
    assert len(case.emu.datasets) == 1


def test_a_supervised_job_takes_fireworks_own_fields(
    provider: Fireworks, case: FireworksDriver, dataset: str
) -> None:
    job_id = _job(provider, dataset, case.base_model, lr="1e-4", batch="32", lora_rank="16")
    sent = case.emu.jobs[job_id]
    assert job_id.startswith("accounts/acme/supervisedFineTuningJobs/")
    assert sent["dataset"] == dataset and sent["baseModel"] == case.base_model
    assert sent["learningRate"] == 1e-4 and sent["batchSize"] == 32 and sent["loraRank"] == 16


def test_a_dpo_job_is_a_dpo_job_at_fireworks(
    provider: Fireworks, case: FireworksDriver, dataset: str
) -> None:
    job_id = _job(provider, dataset, case.base_model, method="dpo", beta="0.2", epochs="2")
    sent = case.emu.jobs[job_id]
    assert job_id.startswith("accounts/acme/dpoJobs/")
    assert sent["lossConfig"] == {"method": "DPO", "dpo": {"beta": 0.2}}
    assert sent["trainingConfig"]["epochs"] == 2


def test_events_are_made_from_progress_changes(
    provider: Fireworks, case: FireworksDriver, dataset: str
) -> None:
    job_id = _job(provider, dataset, case.base_model)
    first = provider.list_events(job_id)
    assert [e.message for e in first] == ["Job creating"]
    assert provider.list_events(job_id, after=first[-1].id) == []  # nothing changed
    case.emu.set_job_state(job_id, "JOB_STATE_RUNNING", percent=40)
    progressed = provider.list_events(job_id, after=first[-1].id)
    assert [e.message for e in progressed] == ["Job running, 40% done (epoch 1)"]
    assert progressed[0].data == {"percent": 40, "epoch": 1}


def test_an_unsupported_base_model_is_refused_in_fireworks_words(
    provider: Fireworks, dataset: str
) -> None:
    with pytest.raises(ProviderError) as refused:
        _job(provider, dataset, "accounts/x/models/nope")
    text = str(refused.value)
    assert "Fireworks AI could not create the fine-tuning job" in text
    assert "is not supported for fine-tuning" in text and "HTTP 400" in text and "Next:" in text


def _trained(provider: Fireworks, case: FireworksDriver, dataset: str) -> str:
    job_id = _job(provider, dataset, case.base_model)
    case.emu.succeed_job(job_id)
    return job_id


def test_one_deployment_at_the_configured_price_answers_at_inference_v1(
    provider: Fireworks, case: FireworksDriver, dataset: str
) -> None:
    job = provider.get_job(_trained(provider, case, dataset))
    assert provider.deployment_quote(job) == 2.90  # FIREWORKS_GPU_HOURLY_USD
    with pytest.raises(NotReady, match="creating"):
        provider.make_callable(job)
    case.emu.set_deployment(deployment_name(job.id), "READY")
    model = provider.make_callable(job)
    assert model == f"accounts/acme/models/{job.id.rsplit('/', 1)[-1]}"
    deployed = case.emu.deployments[deployment_name(job.id)]
    assert deployed["baseModel"] == model and deployed["minReplicaCount"] == 1
    assert provider.endpoint.base_url == f"{case.emu.origin}/inference/v1"
    assert provider.hourly_cost(model) == 2.90


def test_a_restart_mid_deployment_creates_no_second_deployment(
    provider: Fireworks, case: FireworksDriver, dataset: str
) -> None:
    job = provider.get_job(_trained(provider, case, dataset))
    with pytest.raises(NotReady):
        provider.make_callable(job)
    restarted = case.provider()
    with pytest.raises(NotReady):
        restarted.make_callable(job)
    case.emu.set_deployment(deployment_name(job.id), "READY")
    assert restarted.make_callable(job) == job.fine_tuned_model
    assert len(case.emu.deployments) == 1


def test_a_failed_deployment_quotes_fireworks(
    provider: Fireworks, case: FireworksDriver, dataset: str
) -> None:
    job = provider.get_job(_trained(provider, case, dataset))
    with pytest.raises(NotReady):
        provider.make_callable(job)
    case.emu.set_deployment(deployment_name(job.id), "FAILED", "out of H100 capacity")
    with pytest.raises(ProviderError, match="out of H100 capacity"):
        provider.make_callable(job)


def test_rate_limits_and_server_errors_are_retried(
    provider: Fireworks, case: FireworksDriver, dataset: str
) -> None:
    job_id = _job(provider, dataset, case.base_model)
    case.emu.fail_next("jobs", status=429, retry_after=0)
    case.emu.fail_next("jobs", status=500, retry_after=0)
    assert provider.get_job(job_id).id == job_id
    case.emu.fail_next(
        "jobs", status=429, times=3, retry_after=0, message="Quota exceeded for fine-tuning jobs"
    )
    with pytest.raises(ProviderError, match=r"Quota exceeded.*HTTP 429"):
        provider.get_job(job_id)


def test_the_account_id_is_required_with_the_key() -> None:
    settings = Fireworks.Settings
    assert not settings.is_configured({"FIREWORKS_API_KEY": "fw_x"})
    assert settings.is_configured({"FIREWORKS_API_KEY": "fw_x", "FIREWORKS_ACCOUNT_ID": "acme"})
    assert settings.turned_on_by() == ["FIREWORKS_API_KEY", "FIREWORKS_ACCOUNT_ID"]


def test_an_empty_dataset_is_refused_in_fireworks_words(
    provider: Fireworks, tmp_path: Path
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n")
    with pytest.raises(
        ProviderError, match="could not upload the dataset: the uploaded file is empty"
    ):
        provider.upload_training_file(path, filename="empty.jsonl")


def test_a_large_dataset_goes_through_a_signed_url_unchanged(
    case: FireworksDriver, tmp_path: Path
) -> None:
    class SmallUploads(Fireworks):
        direct_limit = 64  # stands in for Fireworks' 150 MB one-request limit

    provider = SmallUploads(SmallUploads.Settings.from_env(case.env), case.provider().context)
    path = tmp_path / "big.jsonl"
    path.write_bytes(TRAINING * 40)
    seen: list[tuple[int, int]] = []
    name = provider.upload_training_file(
        path, filename="big.jsonl", progress=lambda a, b: seen.append((a, b))
    )
    dataset_id = name.rsplit("/", 1)[-1]
    assert case.emu.dataset_data[dataset_id] == TRAINING * 40
    assert case.emu.datasets[dataset_id]["state"] == "READY"
    assert ("POST", f"/v1/accounts/acme/datasets/{dataset_id}:validateUpload") in case.emu.calls
    assert seen[-1] == (len(TRAINING * 40), len(TRAINING * 40))
