"""The together plugin's gateway, through the together SDK and the openai SDK, on the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import openai
import pytest

from admin.providers.base import Deployments, NotReady, ProviderError, TrainRequest
from admin.providers.hosted import deployment_name
from admin.providers.plugin import Phase, ProviderContext
from admin.providers.together import TogetherPlugin, sdk_base_url
from admin.providers.together_gateway import TogetherGateway
from emulators.together import TogetherEmulator

BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
TRAINING = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)
READY = "DEPLOYMENT_STATE_READY"


@pytest.fixture
def together_emulator() -> Iterator[TogetherEmulator]:
    with TogetherEmulator() as emu:
        yield emu


@pytest.fixture
def plugin() -> TogetherPlugin:
    return TogetherPlugin()


def _gateway(plugin: TogetherPlugin, emu: TogetherEmulator) -> TogetherGateway:
    env = {"TOGETHER_API_KEY": emu.api_key, "TOGETHER_BASE_URL": emu.base_url}
    values = plugin.values(env)
    built = plugin.build(
        values, endpoint=plugin.chat_endpoint(values), context=ProviderContext(today=date.today)
    )
    assert isinstance(built, TogetherGateway)
    return built


@pytest.fixture
def gateway(plugin: TogetherPlugin, together_emulator: TogetherEmulator) -> TogetherGateway:
    return _gateway(plugin, together_emulator)


@pytest.fixture
def training_file(gateway: TogetherGateway, tmp_path: Path) -> str:
    path = tmp_path / "prepared.jsonl"
    path.write_bytes(TRAINING * 5)
    return gateway.upload_training_file(path, filename="team.jsonl")


def test_the_dataset_reaches_together_unchanged(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "prepared.jsonl"
    path.write_bytes(TRAINING * 7)
    seen: list[tuple[int, int]] = []
    file_id = gateway.upload_training_file(
        path, filename="team.jsonl", progress=lambda a, b: seen.append((a, b))
    )
    assert together_emulator.file_data[file_id] == TRAINING * 7
    assert together_emulator.files[file_id]["filename"] == "team.jsonl"
    assert seen and seen[-1] == (len(TRAINING * 7), len(TRAINING * 7))


def test_a_job_is_created_with_the_requested_options(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, training_file: str
) -> None:
    request = TrainRequest(
        training_file=training_file,
        model=BASE,
        epochs=3,
        learning_rate=2e-5,
        batch_size=16,
        suffix="support",
        seed=7,
        extra={"lora_r": 8, "lora_alpha": 32, "lora_dropout": 0.1},
    )
    job = gateway.create_job(request)
    sent = together_emulator.jobs[job.id]
    assert sent["n_epochs"] == 3 and sent["learning_rate"] == 2e-5 and sent["batch_size"] == 16
    assert sent["suffix"] == "support" and sent["random_seed"] == 7
    assert sent["training_type"] == {
        "type": "Lora",
        "lora_r": 8,
        "lora_alpha": 32,
        "lora_dropout": 0.1,
        "lora_trainable_modules": "all-linear",
    }
    assert sent["training_method"]["method"] == "sft"
    assert job.status == "pending" and job.phase == Phase.ACTIVE


def test_dpo_sends_its_beta(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, training_file: str
) -> None:
    job = gateway.create_job(
        TrainRequest(training_file=training_file, model=BASE, method="dpo", beta=0.3)
    )
    method = together_emulator.jobs[job.id]["training_method"]
    assert method["method"] == "dpo" and method["dpo_beta"] == 0.3


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("queued", Phase.ACTIVE),
        ("compressing", Phase.ACTIVE),
        ("cancel_requested", Phase.ACTIVE),
        ("completed", Phase.SUCCEEDED),
        ("error", Phase.FAILED),
        ("cancelled", Phase.CANCELLED),
    ],
)
def test_statuses_map_to_phases(
    gateway: TogetherGateway,
    together_emulator: TogetherEmulator,
    training_file: str,
    status: str,
    phase: Phase,
) -> None:
    job = gateway.create_job(TrainRequest(training_file=training_file, model=BASE))
    together_emulator.advance_job(job.id, status)
    assert gateway.get_job(job.id).phase == phase


def test_events_are_new_only_and_metrics_chart_the_loss(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, training_file: str
) -> None:
    job = gateway.create_job(TrainRequest(training_file=training_file, model=BASE))
    first = gateway.list_events(job.id)
    together_emulator.advance_job(job.id, "running", step=1)
    newer = gateway.list_events(job.id, after=first[-1].id)
    assert [e.type for e in newer] == ["training_start", "checkpoint_save"]
    together_emulator.advance_job(job.id, "running", step=2)
    points = gateway.metrics(gateway.get_job(job.id))
    assert [p.step for p in points] == [1, 2] and points[1].train_loss < points[0].train_loss


def test_a_failure_quotes_together(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, training_file: str
) -> None:
    job = gateway.create_job(TrainRequest(training_file=training_file, model=BASE))
    together_emulator.fail_job(job.id, "Training file has 3 invalid lines: missing 'messages'")
    failed = gateway.get_job(job.id)
    assert failed.phase == Phase.FAILED
    assert failed.error_message == "Training file has 3 invalid lines: missing 'messages'"
    with pytest.raises(ProviderError, match="no model to deploy"):
        gateway.make_callable(failed)


def test_an_unsupported_base_model_is_refused_in_togethers_words(
    gateway: TogetherGateway, training_file: str
) -> None:
    with pytest.raises(ProviderError) as refused:
        gateway.create_job(TrainRequest(training_file=training_file, model="acme/not-a-model"))
    assert "Together AI could not create the fine-tuning job" in str(refused.value)
    assert "not supported for fine-tuning" in str(refused.value)


def test_cancel(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, training_file: str
) -> None:
    job = gateway.create_job(TrainRequest(training_file=training_file, model=BASE))
    assert gateway.cancel_job(job.id).status == "cancel_requested"
    together_emulator.advance_job(job.id, "cancelled")
    assert gateway.get_job(job.id).phase == Phase.CANCELLED


def _trained(gateway: TogetherGateway, emu: TogetherEmulator, file_id: str) -> str:
    job = gateway.create_job(TrainRequest(training_file=file_id, model=BASE))
    emu.succeed_job(job.id)
    return job.id


def test_success_leads_to_one_endpoint_that_answers_through_openai(
    plugin: TogetherPlugin,
    gateway: TogetherGateway,
    together_emulator: TogetherEmulator,
    training_file: str,
) -> None:
    job = gateway.get_job(_trained(gateway, together_emulator, training_file))
    assert isinstance(gateway, Deployments)
    assert gateway.deployment_quote(job) == 3.99
    with pytest.raises(NotReady, match="provisioning"):
        gateway.make_callable(job)
    with pytest.raises(NotReady, match="provisioning"):
        gateway.make_callable(job)
    together_emulator.set_deployment_state(deployment_name(job.id), READY)
    model = gateway.make_callable(job)
    assert model == f"acme/{deployment_name(job.id)}"
    assert len(together_emulator.endpoints) == 1
    endpoint = plugin.chat_endpoint(
        plugin.values({"TOGETHER_BASE_URL": together_emulator.base_url})
    )
    chat = openai.OpenAI(base_url=endpoint.base_url, api_key=together_emulator.api_key)
    answer = chat.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert (answer.choices[0].message.content or "").startswith(f"[{model}]")
    streamed = chat.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert gateway.hourly_cost(model) == 3.99
    assert gateway.undeploy(model) and not together_emulator.endpoints


def test_a_restart_mid_deployment_creates_no_second_endpoint(
    plugin: TogetherPlugin,
    gateway: TogetherGateway,
    together_emulator: TogetherEmulator,
    training_file: str,
) -> None:
    job = gateway.get_job(_trained(gateway, together_emulator, training_file))
    with pytest.raises(NotReady):
        gateway.make_callable(job)
    restarted = _gateway(plugin, together_emulator)  # a new process: nothing in memory
    together_emulator.set_deployment_state(deployment_name(job.id), READY)
    assert restarted.make_callable(job) == f"acme/{deployment_name(job.id)}"
    endpoint = next(iter(together_emulator.endpoints.values()))
    assert len(together_emulator.endpoints) == 1 and len(endpoint["_deployments"]) == 1


def test_a_failed_deployment_quotes_together(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, training_file: str
) -> None:
    job = gateway.get_job(_trained(gateway, together_emulator, training_file))
    with pytest.raises(NotReady):
        gateway.make_callable(job)
    together_emulator.set_deployment_state(
        deployment_name(job.id), "DEPLOYMENT_STATE_FAILED", "Insufficient capacity for H100"
    )
    with pytest.raises(ProviderError, match="Insufficient capacity for H100"):
        gateway.make_callable(job)


def test_rate_limits_and_server_errors_are_retried(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, training_file: str
) -> None:
    job = gateway.create_job(TrainRequest(training_file=training_file, model=BASE))
    together_emulator.fail_next("fine_tunes", status=429, retry_after=0)
    together_emulator.fail_next("fine_tunes", status=503)
    assert gateway.get_job(job.id).id == job.id
    together_emulator.fail_next(
        "fine_tunes", status=429, times=3, retry_after=0, message="You have reached the rate limit"
    )
    with pytest.raises(ProviderError, match=r"rate limit.*HTTP 429"):
        gateway.get_job(job.id)


def test_the_sdk_is_given_the_origin_and_chat_keeps_v1(plugin: TogetherPlugin) -> None:
    assert sdk_base_url("https://api.together.xyz/v1") == "https://api.together.xyz"
    assert sdk_base_url("https://api.together.xyz/v1/") == "https://api.together.xyz"
    endpoint = plugin.chat_endpoint(plugin.values({"TOGETHER_API_KEY": "k"}))
    assert endpoint.base_url == "https://api.together.xyz/v1"
    assert endpoint.token_limit_field == "max_tokens"


def test_a_restart_before_traffic_was_routed_routes_it(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, training_file: str
) -> None:
    job = gateway.get_job(_trained(gateway, together_emulator, training_file))
    with pytest.raises(NotReady):
        gateway.make_callable(job)
    name = deployment_name(job.id)
    endpoint = together_emulator.endpoint_named(name)
    assert endpoint is not None
    with together_emulator.lock:  # as if the process died before the PATCH
        together_emulator.endpoints[endpoint["id"]]["trafficSplit"] = []
    together_emulator.set_deployment_state(name, READY)
    model = gateway.make_callable(job)
    assert gateway.is_answering(model)
    assert together_emulator.endpoint_named(name)["trafficSplit"]  # type: ignore[index]


def test_a_quota_refusal_says_what_to_do(
    gateway: TogetherGateway, together_emulator: TogetherEmulator, training_file: str
) -> None:
    together_emulator.fail_next(
        "fine_tunes", status=402, message="Insufficient balance to start this fine-tuning job"
    )
    with pytest.raises(ProviderError) as refused:
        gateway.create_job(TrainRequest(training_file=training_file, model=BASE))
    text = str(refused.value)
    assert "Insufficient balance to start this fine-tuning job" in text and "HTTP 402" in text
    assert "add credits" in text and together_emulator.api_key not in text
