"""Helpers for the local-training tests: a tiny model, datasets, and children that misbehave."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from admin.providers.base import JobSnapshot
    from admin.providers.local import Local
    from emulators.vllm import VllmEmulator
    from storage.db import SessionFactory
    from storage.training_repo import RunStatus

QA = [
    ("When do we deploy?", "Tuesday after lunch."),
    ("Where is the coffee?", "On the third floor."),
    ("When do we meet?", "On Monday."),
    ("Who fixes the build?", "Ask in the help channel."),
]
# Enough steps at a high rate for a 100k-parameter model to learn four answers by heart.
FAST = {
    "epochs": 30,
    "learning_rate": 0.02,
    "batch_size": 4,
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "max_len": 64,
    "save_steps": 10,
}


def chat_jsonl(path: Path, pairs: list[tuple[str, str]] = QA) -> Path:
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        )
        for q, a in pairs
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def greedy(model_dir: Path, question: str, adapter: Path | None = None) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    return str(tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))


def crashing_child(spec: dict[str, Any], messages: Any, shutdown: Any, cancel: Any) -> None:
    """A training child that dies the way the OOM killer ends one: SIGKILL, no last word."""
    messages.put(("progress", {"step": 1, "train_loss": 3.0}))
    os.kill(os.getpid(), signal.SIGKILL)


def raising_child(spec: dict[str, Any], messages: Any, shutdown: Any, cancel: Any) -> None:
    """A child whose training raises CUDA's out-of-memory error."""
    from trainer.child import train

    def boom(*args: Any, **kwargs: Any) -> None:
        raise type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory.")

    from trainer.spec import TrainSpec

    train(TrainSpec(**spec), lambda k, d: messages.put((str(k), d)), boom)


def require_train_extra() -> None:
    """Skip where tunebot[train] is not installed; in CI (which installs it) fail instead."""
    import importlib.util

    import pytest

    missing = [
        m for m in ("torch", "transformers", "peft", "trl") if not importlib.util.find_spec(m)
    ]
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI must install tunebot[train]; missing {', '.join(missing)}")
    if missing:
        pytest.skip(f"needs tunebot[train] ({', '.join(missing)} missing)", allow_module_level=True)


def done_child(spec: dict[str, Any], messages: Any, shutdown: Any, cancel: Any) -> None:
    """A training child that succeeds at once (worker tests about claims, not training)."""
    messages.put(("progress", {"step": 1, "total_steps": 1, "train_loss": 1.0}))
    messages.put(("done", {"step": 1, "trained_tokens": 10, "adapter_dir": spec["adapter_dir"]}))


def store_dataset(data_dir: Path, source: Path) -> str:
    """Put `source` into the content-addressed dataset store; its sha256."""
    import hashlib

    from admin.datastore import DatasetStore

    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    DatasetStore(data_dir).put(source, sha)
    return sha


def queue(session_factory: Any, sha: str, model: str, name: str, **options: Any) -> int:
    from storage import training_repo

    with session_factory.begin() as session:
        run = training_repo.queue_run(
            session,
            values={
                "base_model": model,
                "method": "supervised",
                "dataset_sha256": sha,
                "validation_sha256": None,
                "options": {**FAST, **options},
                "adapter_name": name,
            },
        )
        return int(run.id)


def preference_jsonl(path: Path) -> Path:
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": q}]},
                "preferred_output": [{"role": "assistant", "content": a}],
                "non_preferred_output": [{"role": "assistant", "content": "I do not know."}],
            }
        )
        for q, a in QA
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def local_gateway(
    server: VllmEmulator | str,
    session_factory: SessionFactory,
    data: Path,
    models: Path,
    **env: str,
) -> Local:
    """The local provider as `tunebot run` builds it, against `server` (a URL or an emulator)."""
    from admin.providers.local import Local
    from admin.providers.registry import Providers, Registry

    url = server if isinstance(server, str) else server.base_url
    env = {"TUNEBOT_VLLM_URL": url, "TUNEBOT_MODEL_DIR": str(models), **env}
    if not isinstance(server, str) and server.api_key:
        env["TUNEBOT_VLLM_API_KEY"] = server.api_key
    providers = Providers.from_env(
        env,
        registry=Registry.discover(),
        default="local",
        session_factory=session_factory,
        data_dir=data,
    )
    built = providers.get("local")
    assert isinstance(built, Local)
    return built


def succeeded_job(name: str) -> JobSnapshot:
    """A finished local job whose adapter is `name`, as the lifecycle hands it back."""
    from admin.providers.base import JobSnapshot
    from admin.providers.plugin import Phase

    return JobSnapshot(
        id="local-1", status="succeeded", model="m", fine_tuned_model=name, phase=Phase.SUCCEEDED
    )


def finished_run(session_factory: SessionFactory, name: str, status: RunStatus) -> int:
    """A training run of adapter `name` that a trainer took and finished with `status`."""
    from datetime import timedelta

    from storage import training_repo
    from storage.models import utcnow

    with session_factory.begin() as session:
        training_repo.queue_run(
            session,
            values={
                "base_model": "m",
                "method": "supervised",
                "dataset_sha256": "0" * 64,
                "validation_sha256": None,
                "options": {},
                "adapter_name": name,
            },
        )
        run = training_repo.claim_next(session, owner="t", now=utcnow(), lease=timedelta(hours=1))
        assert run is not None
        training_repo.finish(session, run_id=run.id, owner="t", status=status, message=".")
        return int(run.id)
