"""The `local` provider end to end: queue, train for real, load into vLLM (emulated), chat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.local_helpers import (
    QA,
    chat_jsonl,
    local_gateway,
    require_train_extra,
    succeeded_job,
)

require_train_extra()

from admin.providers.base import NotReady, ProviderError, TrainRequest  # noqa: E402
from admin.providers.plugin import Phase  # noqa: E402
from admin.providers.vllm_api import VllmServer  # noqa: E402
from emulators.vllm import VllmEmulator  # noqa: E402
from storage.db import SessionFactory  # noqa: E402
from trainer.worker import Worker  # noqa: E402


@pytest.fixture
def vllm(tiny_model: Path) -> Iterator[VllmEmulator]:
    with VllmEmulator(tiny_model, max_lora_rank=16) as server:
        yield server


def test_a_local_job_trains_loads_into_vllm_and_answers_from_the_adapter(
    session_factory: SessionFactory, vllm: VllmEmulator, tiny_model: Path, tmp_path: Path
) -> None:
    gateway = local_gateway(vllm, session_factory, tmp_path / "data", tmp_path / "models")
    file_id = gateway.upload_training_file(chat_jsonl(tmp_path / "t.jsonl"), filename="t.jsonl")
    words = {"epochs": "30", "lr": "0.02", "batch": "4", "suffix": "Team QA", "lora_r": "8"}
    more = {"lora_alpha": "16", "lora_dropout": "0", "max_len": "64", "save_steps": "10"}
    options = gateway.read_options(words | more)
    job = gateway.create_job(TrainRequest(file_id, vllm.served_name, options))
    assert job.status == "queued" and job.phase is Phase.ACTIVE
    with pytest.raises(NotReady):
        gateway.make_callable(job)

    worker = Worker(session_factory, tmp_path / "data", tmp_path / "models", heartbeat_every=1)
    assert worker.run_once()

    done = gateway.get_job(job.id)
    assert done.phase is Phase.SUCCEEDED and done.fine_tuned_model.startswith("tunebot-team-qa-")
    points = gateway.metrics(done)
    assert len(points) == 30 and points[-1].train_loss < points[0].train_loss
    assert [c.step for c in gateway.list_checkpoints(job.id)] == [10, 20, 30]
    assert any(e.type == "metrics" for e in gateway.list_events(job.id))

    name = gateway.make_callable(done)
    assert gateway.make_callable(done) == name  # already loaded: still fine

    listed = {m["id"]: m for m in VllmServer(vllm.base_url, None).models()}
    assert listed[name]["parent"] == vllm.served_name
    client = openai.OpenAI(base_url=vllm.base_url, api_key="unused", max_retries=0)
    question, answer = QA[2]
    stream = client.chat.completions.create(
        model=name, messages=[{"role": "user", "content": question}], stream=True, max_tokens=16
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == answer
    base = client.chat.completions.create(
        model=vllm.served_name, messages=[{"role": "user", "content": question}], max_tokens=16
    )
    assert base.choices[0].message.content != answer


def test_a_base_model_the_server_does_not_serve_is_refused(
    session_factory: SessionFactory, vllm: VllmEmulator, tmp_path: Path
) -> None:
    gateway = local_gateway(vllm, session_factory, tmp_path / "data", tmp_path / "models")
    file_id = gateway.upload_training_file(chat_jsonl(tmp_path / "t.jsonl"), filename="t.jsonl")

    with pytest.raises(ProviderError, match="not `Qwen/Qwen3-8B`"):
        gateway.create_job(TrainRequest(file_id, "Qwen/Qwen3-8B", gateway.Options()))


def test_an_adapter_above_the_servers_max_rank_is_a_clear_failure(
    session_factory: SessionFactory, tiny_model: Path, trained_adapter: Path, tmp_path: Path
) -> None:
    with VllmEmulator(tiny_model, max_lora_rank=4) as small:
        gateway = local_gateway(small, session_factory, tmp_path, trained_adapter.parent)
        with pytest.raises(ProviderError, match="--max-lora-rank"):
            gateway.make_callable(succeeded_job(trained_adapter.name))


def test_an_unreachable_vllm_leaves_the_model_deploying(
    session_factory: SessionFactory, trained_adapter: Path, tmp_path: Path
) -> None:
    gateway = local_gateway(
        "http://127.0.0.1:9/v1", session_factory, tmp_path, trained_adapter.parent
    )

    with pytest.raises(NotReady, match="not reachable"):
        gateway.make_callable(succeeded_job(trained_adapter.name))


def test_after_a_vllm_restart_the_adapter_is_loaded_again(
    session_factory: SessionFactory, vllm: VllmEmulator, trained_adapter: Path, tmp_path: Path
) -> None:
    vllm.api_key = "s3cret"
    gateway = local_gateway(vllm, session_factory, tmp_path, trained_adapter.parent)
    name = gateway.make_callable(succeeded_job(trained_adapter.name))
    vllm.restart()
    assert name not in vllm.loras

    assert gateway.ensure_loaded(name)
    assert name in vllm.loras
    assert not gateway.ensure_loaded("tunebot-gone-12345678")  # its folder is missing


def test_the_context_window_is_what_vllm_states_for_the_model_or_its_base(
    session_factory: SessionFactory, vllm: VllmEmulator, trained_adapter: Path, tmp_path: Path
) -> None:
    gateway = local_gateway(vllm, session_factory, tmp_path, trained_adapter.parent)
    name = gateway.make_callable(succeeded_job(trained_adapter.name))

    assert gateway.context_window(vllm.served_name) == vllm.max_model_len
    assert gateway.context_window(name) == vllm.max_model_len  # an adapter has its base's
