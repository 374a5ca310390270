"""Nebius: OpenAI-compatible jobs, and the /v0/models deployment that serves them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import openai
import pytest

from admin.providers.base import JobSnapshot, NotReady, ProviderError, TrainRequest
from admin.providers.builtin import OpenAI
from admin.providers.nebius import Nebius, control_plane_url, deployment_name
from admin.providers.plugin import ProviderContext
from emulators.openai import OpenAIEmulator

TRAINING = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)


def _built(cls: type[Nebius] | type[OpenAI], emulator: OpenAIEmulator) -> Any:
    settings = cls.Settings(api_key=emulator.api_key, base_url=emulator.base_url)
    return cls(settings, ProviderContext(today=date.today))


@pytest.fixture
def provider(emulator: OpenAIEmulator) -> Nebius:
    built: Nebius = _built(Nebius, emulator)
    return built


@pytest.fixture
def trained(provider: Nebius, emulator: OpenAIEmulator, tmp_path: Path) -> JobSnapshot:
    path = tmp_path / "train.jsonl"
    path.write_bytes(TRAINING * 10)
    file_id = provider.upload_training_file(path, filename="train.jsonl")
    job = provider.create_job(TrainRequest(file_id, "gpt-4o-mini", provider.Options()))
    emulator.succeed_job(job.id, steps=6)
    return provider.get_job(job.id)


def _deployment(client: openai.OpenAI, name: str) -> dict[str, Any]:
    root = client.with_options(base_url=control_plane_url(client.base_url))
    found = root.get(f"/v0/models/{name}", cast_to=object)
    assert isinstance(found, dict)
    return found


def test_make_callable_is_not_ready_until_the_deployment_is_active(
    provider: Nebius,
    client: openai.OpenAI,
    emulator: OpenAIEmulator,
    trained: JobSnapshot,
) -> None:
    emulator.activation_polls = 3
    waits = 0
    while True:  # one call per scheduler tick
        try:
            name = provider.make_callable(trained)
            break
        except NotReady as pending:
            assert "still deploying" in str(pending)
            waits += 1
            assert waits < 10
    assert waits >= 1 and name == deployment_name(trained.id)
    assert provider.make_callable(trained) == name  # idempotent once active

    last = provider.list_checkpoints(trained.id)[-1]
    deployed = _deployment(client, name)
    assert deployed["source"] == f"{trained.id}:{last.id}" and last.step == 6
    assert deployed["base_model"] == trained.model
    assert provider.is_answering(name)
    reply = client.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "hello"}]
    )
    assert (reply.choices[0].message.content or "").startswith(f"[{name}]")


def test_a_deployment_created_by_another_replica_is_reused(
    provider: Nebius, emulator: OpenAIEmulator, trained: JobSnapshot
) -> None:
    # The other replica's POST lands between our read (404) and our POST (409).
    with pytest.raises(NotReady):
        provider.make_callable(trained)
    emulator.fail_next("custom_models", status=404, message="No such model")
    with pytest.raises(NotReady):
        provider.make_callable(trained)
    assert provider.make_callable(trained) == deployment_name(trained.id)


def test_make_callable_waits_for_training_first(
    provider: Nebius, client: openai.OpenAI, tmp_path: Path
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(TRAINING)
    file_id = provider.upload_training_file(path, filename="train.jsonl")
    job = provider.create_job(TrainRequest(file_id, "gpt-4o-mini", provider.Options()))
    with pytest.raises(NotReady, match="validating files"):
        provider.make_callable(job)
    with pytest.raises(openai.NotFoundError):
        _deployment(client, deployment_name(job.id))


def test_a_refused_deployment_quotes_nebius(
    provider: Nebius, emulator: OpenAIEmulator, trained: JobSnapshot
) -> None:
    emulator.fail_next(
        "custom_models", status=400, message="Base model does not take LoRA adapters."
    )
    with pytest.raises(ProviderError) as refused:
        provider.make_callable(trained)
    assert "Nebius Token Factory could not" in str(refused.value)
    assert "Base model does not take LoRA adapters." in str(refused.value)


def test_lr_is_absolute_at_nebius_and_a_multiplier_at_openai(
    provider: Nebius, emulator: OpenAIEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(TRAINING * 10)
    file_id = provider.upload_training_file(path, filename="train.jsonl")
    sent = {}
    for chosen in (provider, _built(OpenAI, emulator)):
        options = chosen.read_options({"lr": "0.0001"})
        job = chosen.create_job(TrainRequest(file_id, "gpt-4o-mini", options))
        sent[chosen.name] = emulator.jobs[job.id]["method"]["supervised"]["hyperparameters"]
    assert sent["nebius"]["learning_rate"] == 0.0001
    assert sent["nebius"]["learning_rate_multiplier"] == "auto"  # unset: the server's default
    assert sent["openai"]["learning_rate_multiplier"] == 0.0001
    assert "learning_rate" not in sent["openai"]


def test_nebius_chats_with_max_tokens(
    provider: Nebius, emulator: OpenAIEmulator, trained: JobSnapshot
) -> None:
    assert provider.is_answering("gpt-4o-mini")
    assert emulator.chat_requests[-1]["max_tokens"] == 1


def test_the_control_plane_is_the_server_root() -> None:
    assert (
        control_plane_url("https://api.tokenfactory.nebius.com/v1/")
        == "https://api.tokenfactory.nebius.com/"
    )
    assert control_plane_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/"


def test_deployment_names_are_stable_and_plain() -> None:
    name = deployment_name("ftjob-7YuRulv7rME6u8SfwbhKBUTE")
    assert name == deployment_name("ftjob-7YuRulv7rME6u8SfwbhKBUTE")
    assert name == "tunebot-7yurulv7rme6u8sfwbhkbute"
    assert deployment_name("ftjob-abc", prefix="team") == "team-abc"
