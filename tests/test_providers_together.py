"""What only Together does: its SDK's arguments, its metrics, its dedicated endpoints and its
errors (what every provider does is tests/test_provider_contract.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from admin.providers.base import NotReady, ProviderError, TrainRequest
from admin.providers.hosted import deployment_name
from admin.providers.registry import Registry
from admin.providers.together import Together, sdk_base_url
from tests.provider_drivers import TogetherDriver, hosted_driver

READY = "DEPLOYMENT_STATE_READY"


@pytest.fixture
def case() -> Iterator[TogetherDriver]:
    with hosted_driver("together", Registry.discover()) as driver:
        assert isinstance(driver, TogetherDriver)
        yield driver


@pytest.fixture
def provider(case: TogetherDriver) -> Together:
    built = case.provider()
    assert isinstance(built, Together)
    return built


@pytest.fixture
def training_file(provider: Together, case: TogetherDriver, tmp_path: Path) -> str:
    return provider.upload_training_file(case.dataset(tmp_path), filename="team.jsonl")


def _job(provider: Together, file_id: str, model: str, **words: str) -> str:
    options = provider.read_options(words)
    return provider.create_job(TrainRequest(file_id, model, options)).id


def test_lora_options_and_the_absolute_learning_rate_reach_together(
    provider: Together, case: TogetherDriver, training_file: str
) -> None:
    words = {"lr": "2e-5", "batch": "16", "seed": "7", "lora_r": "8", "lora_alpha": "32"}
    job_id = _job(provider, training_file, case.base_model, **words, lora_dropout="0.1")
    sent = case.emu.jobs[job_id]
    assert sent["learning_rate"] == 2e-5 and sent["batch_size"] == 16
    assert sent["random_seed"] == 7
    assert sent["training_type"] == {
        "type": "Lora",
        "lora_r": 8,
        "lora_alpha": 32,
        "lora_dropout": 0.1,
        "lora_trainable_modules": "all-linear",
    }
    assert sent["training_method"]["method"] == "sft"


def test_its_metrics_chart_the_loss(
    provider: Together, case: TogetherDriver, training_file: str
) -> None:
    job_id = _job(provider, training_file, case.base_model)
    case.emu.advance_job(job_id, "running", step=1)
    case.emu.advance_job(job_id, "running", step=2)
    points = provider.metrics(provider.get_job(job_id))
    assert [p.step for p in points] == [1, 2] and points[1].train_loss < points[0].train_loss


def test_an_unsupported_base_model_is_refused_in_togethers_words(
    provider: Together, training_file: str
) -> None:
    with pytest.raises(ProviderError) as refused:
        _job(provider, training_file, "acme/not-a-model")
    assert "Together AI could not create the fine-tuning job" in str(refused.value)
    assert "not supported for fine-tuning" in str(refused.value)


def _trained(provider: Together, case: TogetherDriver, file_id: str) -> str:
    job_id = _job(provider, file_id, case.base_model)
    case.emu.succeed_job(job_id)
    return job_id


def test_one_endpoint_serves_the_model_at_its_quoted_price_through_openai(
    provider: Together, case: TogetherDriver, training_file: str
) -> None:
    job = provider.get_job(_trained(provider, case, training_file))
    assert provider.deployment_quote(job) == 3.99
    for _ in range(2):
        with pytest.raises(NotReady, match="provisioning"):
            provider.make_callable(job)
    case.emu.set_deployment_state(deployment_name(job.id), READY)
    model = provider.make_callable(job)
    assert model == f"acme/{deployment_name(job.id)}" and len(case.emu.endpoints) == 1
    chat = openai.OpenAI(base_url=provider.endpoint.base_url, api_key=case.emu.api_key)
    streamed = chat.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices).startswith(
        f"[{model}]"
    )
    assert provider.hourly_cost(model) == 3.99
    assert [d.model for d in provider.list_deployments()] == [model]


def test_a_restart_mid_deployment_creates_no_second_endpoint(
    provider: Together, case: TogetherDriver, training_file: str
) -> None:
    job = provider.get_job(_trained(provider, case, training_file))
    with pytest.raises(NotReady):
        provider.make_callable(job)
    restarted = case.provider()  # a new process: nothing in memory
    case.emu.set_deployment_state(deployment_name(job.id), READY)
    assert restarted.make_callable(job) == f"acme/{deployment_name(job.id)}"
    endpoint = next(iter(case.emu.endpoints.values()))
    assert len(case.emu.endpoints) == 1 and len(endpoint["_deployments"]) == 1


def test_a_failed_deployment_quotes_together(
    provider: Together, case: TogetherDriver, training_file: str
) -> None:
    job = provider.get_job(_trained(provider, case, training_file))
    with pytest.raises(NotReady):
        provider.make_callable(job)
    case.emu.set_deployment_state(
        deployment_name(job.id), "DEPLOYMENT_STATE_FAILED", "Insufficient capacity for H100"
    )
    with pytest.raises(ProviderError, match="Insufficient capacity for H100"):
        provider.make_callable(job)


def test_rate_limits_and_server_errors_are_retried(
    provider: Together, case: TogetherDriver, training_file: str
) -> None:
    job_id = _job(provider, training_file, case.base_model)
    case.emu.fail_next("fine_tunes", status=429, retry_after=0)
    case.emu.fail_next("fine_tunes", status=503)
    assert provider.get_job(job_id).id == job_id
    case.emu.fail_next(
        "fine_tunes", status=429, times=3, retry_after=0, message="You have reached the rate limit"
    )
    with pytest.raises(ProviderError, match=r"rate limit.*HTTP 429"):
        provider.get_job(job_id)


def test_the_sdk_is_given_the_origin_and_chat_keeps_v1(provider: Together) -> None:
    assert sdk_base_url("https://api.together.xyz/v1") == "https://api.together.xyz"
    assert sdk_base_url("https://api.together.xyz/v1/") == "https://api.together.xyz"
    assert provider.endpoint.base_url == f"{sdk_base_url(str(provider.settings.base_url))}/v1"
    assert provider.endpoint.token_limit_field == "max_tokens"


def test_a_restart_before_traffic_was_routed_routes_it(
    provider: Together, case: TogetherDriver, training_file: str
) -> None:
    job = provider.get_job(_trained(provider, case, training_file))
    with pytest.raises(NotReady):
        provider.make_callable(job)
    name = deployment_name(job.id)
    endpoint = case.emu.endpoint_named(name)
    assert endpoint is not None
    with case.emu.lock:  # as if the process died before the PATCH
        case.emu.endpoints[endpoint["id"]]["trafficSplit"] = []
    case.emu.set_deployment_state(name, READY)
    model = provider.make_callable(job)
    assert provider.is_answering(model)
    assert case.emu.endpoint_named(name)["trafficSplit"]  # type: ignore[index]


def test_a_quota_refusal_says_what_to_do(
    provider: Together, case: TogetherDriver, training_file: str
) -> None:
    case.emu.fail_next(
        "fine_tunes", status=402, message="Insufficient balance to start this fine-tuning job"
    )
    with pytest.raises(ProviderError) as refused:
        _job(provider, training_file, case.base_model)
    text = str(refused.value)
    assert "Insufficient balance to start this fine-tuning job" in text and "HTTP 402" in text
    assert "add credits" in text and case.emu.api_key not in text


def test_the_context_window_of_a_base_model_comes_from_together(
    provider: Together, case: TogetherDriver
) -> None:
    assert provider.context_window(case.base_model) == 131072
