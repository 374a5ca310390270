"""OpenAI's fine-tuning API through the real openai SDK against the OpenAI emulator: what the
OpenAI-compatible providers do beyond the contract suite (pagination, results files, pause)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import ClassVar

import openai
import pytest

from admin.errors import TunebotError
from admin.providers import Capability, Providers, Registry
from admin.providers.base import NotReady, ProviderError, TrainRequest
from admin.providers.builtin import OpenAI
from admin.providers.nebius import Nebius
from admin.providers.plugin import ProviderContext
from emulators.openai import OpenAIEmulator

TRAINING = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)
SNAPSHOT = "gpt-4o-mini-2024-07-18"


def _openai(emulator: OpenAIEmulator, cls: type[OpenAI] = OpenAI, key: str = "") -> OpenAI:
    settings = cls.Settings(api_key=key or emulator.api_key, base_url=emulator.base_url)
    return cls(settings, ProviderContext(today=date.today))


@pytest.fixture
def provider(emulator: OpenAIEmulator) -> OpenAI:
    return _openai(emulator)


@pytest.fixture
def training_file(provider: OpenAI, tmp_path: Path) -> str:
    path = tmp_path / "train.jsonl"
    path.write_bytes(TRAINING * 20)
    return provider.upload_training_file(path, filename="train.jsonl")


def _job(provider: OpenAI, training_file: str, *, validation_file: str | None = None) -> str:
    request = TrainRequest(
        training_file=training_file,
        model="gpt-4o-mini",
        options=provider.Options(),
        validation_file=validation_file,
    )
    return provider.create_job(request).id


def test_create_job_sends_every_option(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    words = {"epochs": "2", "lr": "0.5", "batch": "4", "suffix": "support", "seed": "7"}
    request = TrainRequest(
        training_file=training_file,
        model="gpt-4o-mini",
        options=provider.read_options(words),
        validation_file=training_file,
        metadata={"dataset": "ds-1"},
    )
    job = provider.create_job(request)

    sent = emulator.jobs[job.id]
    assert sent["method"] == {
        "type": "supervised",
        "supervised": {
            "hyperparameters": {"n_epochs": 2, "learning_rate_multiplier": 0.5, "batch_size": 4}
        },
    }
    assert sent["validation_file"] == training_file and sent["user_provided_suffix"] == "support"
    assert sent["seed"] == 7 and sent["metadata"] == {"dataset": "ds-1"}
    assert job.model == SNAPSHOT and job.status == "validating_files" and job.phase == "active"
    assert isinstance(job.created_at, datetime) and job.created_at.tzinfo is not None
    assert job.hyperparameters == {"n_epochs": 2, "learning_rate_multiplier": 0.5, "batch_size": 4}


def test_a_dpo_job_carries_beta_in_its_method(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    options = provider.read_options({"method": "dpo", "beta": "0.2"})
    job = provider.create_job(TrainRequest(training_file, "gpt-4o-mini", options))
    method = emulator.jobs[job.id]["method"]
    assert method["type"] == "dpo" and method["dpo"]["hyperparameters"]["beta"] == 0.2
    assert method["dpo"]["hyperparameters"]["n_epochs"] == "auto"  # unset: the provider picks
    assert job.hyperparameters["beta"] == 0.2


def test_an_unknown_training_file_quotes_the_provider(provider: OpenAI) -> None:
    with pytest.raises(ProviderError) as refused:
        provider.create_job(TrainRequest("file-nope", "gpt-4o-mini", provider.Options()))
    assert "invalid training_file: file-nope" in str(refused.value)
    assert "OpenAI could not create the fine-tuning job" in str(refused.value)
    assert refused.value.status == 400


def test_a_model_that_cannot_be_fine_tuned_is_not_called_a_closed_door(
    provider: OpenAI, training_file: str
) -> None:
    with pytest.raises(ProviderError) as refused:
        provider.create_job(TrainRequest(training_file, "o3-mini", provider.Options()))
    message = str(refused.value)
    assert "Model o3-mini is not available for fine-tuning" in message
    assert refused.value.code == "model_not_available" and "TUNEBOT_PROVIDER" not in message


def test_refused_new_jobs_explain_and_point_to_another_backend(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    emulator.refuse_new_jobs(
        "Fine-tuning is not available to organizations without recent activity."
    )
    with pytest.raises(ProviderError) as refused:
        provider.create_job(TrainRequest(training_file, "gpt-4o-mini", provider.Options()))
    message = str(refused.value)
    assert "Fine-tuning is not available to organizations without recent activity." in message
    assert "HTTP 403, fine_tuning_unavailable" in message
    assert "no longer accepts new fine-tuning jobs for this account" in message
    assert "TUNEBOT_PROVIDER" in message and refused.value.code == "fine_tuning_unavailable"


def test_a_rejected_key_is_not_echoed(emulator: OpenAIEmulator) -> None:
    wrong = _openai(emulator, key="sk-live-abcdefgh12345678")
    with pytest.raises(ProviderError) as refused:
        wrong.get_job("ftjob-1")
    assert "Incorrect API key provided" in str(refused.value)
    assert "5678" not in str(refused.value) and "abcdefgh" not in str(refused.value)


def test_get_job_follows_the_job_to_each_phase(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    job_id = _job(provider, training_file)
    emulator.advance_job(job_id, "running")
    running = provider.get_job(job_id)
    assert running.phase == "active" and running.estimated_finish is not None
    assert running.hyperparameters["n_epochs"] == 5  # "auto" for 20 examples, once running
    model = emulator.succeed_job(job_id)
    done = provider.get_job(job_id)
    assert done.phase == "succeeded" and done.fine_tuned_model == model
    assert done.finished_at is not None and (done.trained_tokens or 0) > 0
    assert len(done.result_files) == 1

    failing = _job(provider, training_file)
    emulator.fail_job(failing, code="invalid_training_file", message="Line 3 is not valid JSON.")
    failed = provider.get_job(failing)
    assert failed.phase == "failed" and failed.error_code == "invalid_training_file"
    assert failed.error_message == "Line 3 is not valid JSON."


def test_an_unknown_status_is_treated_as_still_active(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    job_id = _job(provider, training_file)
    with emulator.state.lock:  # a status newer than this code: the emulator cannot produce one
        emulator.state.jobs[job_id]["status"] = "pausing"
    job = provider.get_job(job_id)
    assert job.status == "pausing" and job.phase == "active"


def test_events_come_oldest_first_and_after_skips_what_was_seen(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    job_id = _job(provider, training_file)
    seen = provider.list_events(job_id)
    assert [e.message for e in seen] == [
        f"Validating training file: {training_file}",
        f"Created fine-tuning job: {job_id}",
    ]
    emulator.advance_job(job_id, "running")
    assert [e.message for e in provider.list_events(job_id, after=seen[-1].id)] == [
        "Fine-tuning job started"
    ]


def test_events_follow_pagination(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    job_id = _job(provider, training_file)
    created = provider.list_events(job_id)
    emulator.succeed_job(job_id, steps=130)  # more than one page of 100
    new = provider.list_events(job_id, after=created[-1].id)
    metrics = [e for e in new if e.type == "metrics"]
    assert [e.data["step"] for e in metrics] == list(range(1, 131))
    assert new[-1].message == "The job has successfully completed"
    assert len(provider.list_events(job_id)) == len(created) + len(new)


def test_cancel_pause_and_resume(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    job_id = _job(provider, training_file)
    with pytest.raises(ProviderError, match="cannot be paused"):
        provider.pause_job(job_id)  # still validating files
    emulator.advance_job(job_id, "running")
    assert provider.pause_job(job_id).status == "paused"
    assert provider.resume_job(job_id).status == "running"
    cancelled = provider.cancel_job(job_id)
    assert cancelled.status == "cancelled" and cancelled.phase == "cancelled"


def test_checkpoints_come_lowest_step_first(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    job_id = _job(provider, training_file)
    model = emulator.succeed_job(job_id, steps=9)
    checkpoints = provider.list_checkpoints(job_id)
    assert [c.step for c in checkpoints] == [3, 6, 9]
    assert checkpoints[-1].model == f"{model}:ckpt-step-9"
    assert checkpoints[-1].metrics["train_loss"] > 0 and checkpoints[0].created_at is not None


class WithoutEvents(OpenAI):
    """A server with OpenAI's routes but no job events: points must come from the file."""

    capabilities: ClassVar = frozenset({Capability.CHECKPOINTS})


def _metrics_only_from_files(emulator: OpenAIEmulator) -> OpenAI:
    return _openai(emulator, WithoutEvents)


def test_metrics_come_from_the_base64_results_file(
    provider: OpenAI,
    emulator: OpenAIEmulator,
    training_file: str,
) -> None:
    job_id = _job(provider, training_file, validation_file=training_file)
    emulator.succeed_job(job_id, steps=6)
    points = _metrics_only_from_files(emulator).metrics(provider.get_job(job_id))
    assert [p.step for p in points] == [1, 2, 3, 4, 5, 6]
    losses = [p.train_loss for p in points]
    assert losses == sorted(losses, reverse=True)
    assert all(p.valid_loss is not None and p.valid_loss > p.train_loss for p in points)


def test_metrics_come_from_a_plain_csv_results_file(
    provider: OpenAI,
    emulator: OpenAIEmulator,
    training_file: str,
) -> None:
    emulator.results_base64 = False
    job_id = _job(provider, training_file)
    emulator.succeed_job(job_id, steps=4)
    points = _metrics_only_from_files(emulator).metrics(provider.get_job(job_id))
    assert [p.step for p in points] == [1, 2, 3, 4]
    assert all(p.valid_loss is None for p in points)


def test_metrics_fall_back_to_events_when_the_file_is_gone(
    client: openai.OpenAI,
    provider: OpenAI,
    emulator: OpenAIEmulator,
    training_file: str,
) -> None:
    job_id = _job(provider, training_file)
    emulator.succeed_job(job_id, steps=5)
    job = provider.get_job(job_id)
    client.files.delete(job.result_files[0])
    points = provider.metrics(job)
    assert [p.step for p in points] == [1, 2, 3, 4, 5] and points[0].train_loss > 0
    assert _metrics_only_from_files(emulator).metrics(job) == []


def test_make_callable_on_openai_returns_the_model_without_a_call(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    job_id = _job(provider, training_file)
    with pytest.raises(NotReady, match="validating files"):
        provider.make_callable(provider.get_job(job_id))
    model = emulator.succeed_job(job_id)
    asked = len(emulator.chat_requests)
    assert provider.make_callable(provider.get_job(job_id)) == model
    assert provider.make_callable(provider.get_job(job_id)) == model
    assert len(emulator.chat_requests) == asked


def test_make_callable_on_a_failed_job_says_there_is_no_model(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    job_id = _job(provider, training_file)
    emulator.fail_job(job_id, code="invalid_training_file", message="bad")
    with pytest.raises(ProviderError, match="no model"):
        provider.make_callable(provider.get_job(job_id))


def test_a_new_model_is_not_answering_until_it_is(
    provider: OpenAI, emulator: OpenAIEmulator, training_file: str
) -> None:
    job_id = _job(provider, training_file)
    model = emulator.succeed_job(job_id, callable_after_calls=2)
    assert [provider.is_answering(model) for _ in range(3)] == [False, False, True]
    assert emulator.chat_requests[-1]["max_completion_tokens"] == 1


def test_is_answering_raises_on_other_errors(provider: OpenAI, emulator: OpenAIEmulator) -> None:
    emulator.fail_next("chat", status=500, times=3)  # the SDK retries twice
    with pytest.raises(ProviderError, match="HTTP 500"):
        provider.is_answering("gpt-4o-mini")


def test_model_info_reads_shutdown_dates(provider: OpenAI, emulator: OpenAIEmulator) -> None:
    plain = provider.model_info(SNAPSHOT)
    assert plain.exists and plain.id == SNAPSHOT and plain.shutdown_date is None
    emulator.set_shutdown_date(SNAPSHOT, "2027-01-14")
    assert provider.model_info(SNAPSHOT).shutdown_date == date(2027, 1, 14)
    emulator.set_shutdown_date(SNAPSHOT, "1800000000")  # unix seconds, as some providers give it
    assert provider.model_info(SNAPSHOT).shutdown_date == date(2027, 1, 15)


def test_each_configured_backend_gets_its_own_gateway_and_chat_endpoint() -> None:
    env = {
        "OPENAI_API_KEY": "sk-one",
        "NEBIUS_API_KEY": "nb-two",
        "NEBIUS_BASE_URL": "http://127.0.0.1:9/v1/",
    }
    providers = Providers.from_env(env, registry=Registry.discover(), default="nebius")
    assert providers.names() == ["nebius", "openai"]  # azure has no key: off
    openai_provider = providers.get("openai")
    assert openai_provider.name == "openai"
    assert openai_provider.capabilities == {"pause", "resume", "events", "checkpoints", "dpo"}
    nebius = providers.get(None)  # the default
    assert isinstance(nebius, Nebius) and nebius.capabilities == {"events", "checkpoints"}
    assert providers.get("nebius").endpoint.token_limit_field == "max_tokens"
    assert providers.get("nebius").endpoint.base_url == "http://127.0.0.1:9/v1/"
    with pytest.raises(TunebotError, match="AZURE_OPENAI_API_KEY"):
        providers.get("azure")
    with pytest.raises(TunebotError, match="no provider `bedrock`"):
        providers.get("bedrock")
