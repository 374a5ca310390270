"""`tunebot demo --local`: a KakaoTalk export in, a LoRA adapter trained for real on the CPU,
served by the vLLM emulator, and the answer after the swap coming from that adapter.

Everything tunebot itself runs is real: the dataset conversion, the `local` provider's
gateway, `tunebot trainer`'s worker (training a tiny Llama model in a child process with TRL
and PEFT), and the adapter loading over vLLM's HTTP API. Only the vLLM server is emulated
(with transformers + PEFT generating from the adapter files).
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

ASSISTANT = "준"
# Enough for the tiny model to learn three answers by heart in about a minute on 2 cores.
EXTRA = {"lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "max_len": 128, "save_steps": 25}


def play_local(out: TextIO) -> int:
    missing = [
        m for m in ("torch", "transformers", "peft", "trl") if not importlib.util.find_spec(m)
    ]
    if missing:
        out.write(
            "tunebot demo --local trains a real model and needs the train extra: "
            "pip install 'tunebot[train]'\n"
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="tunebot-demo-local-") as folder:
        return _play(Path(folder), out)


def _play(root: Path, out: TextIO) -> int:
    import openai

    from admin.datasets.api import prepare
    from admin.providers.base import TrainRequest
    from admin.providers.local import LocalPlugin
    from admin.providers.plugin import ProviderContext
    from emulators.demo import KAKAO_CSV
    from emulators.tiny_model import build_tiny_model
    from emulators.vllm import VllmEmulator
    from storage.db import build_engine, build_session_factory, upgrade
    from trainer.worker import Worker

    started = time.monotonic()
    out.write(
        "tunebot demo --local: real LoRA training on this CPU, served by an emulated vLLM\n\n"
    )
    prepared = prepare(KAKAO_CSV.encode("utf-8-sig"), assistant=ASSISTANT, output=root / "ds.jsonl")
    rows = [json.loads(line) for line in prepared.read_bytes().splitlines() if line.strip()]
    out.write(f"-- KakaoTalk export -> {len(rows)} chat examples (assistant: {ASSISTANT})\n")
    texts = [m["content"] for r in rows for m in r["messages"] if isinstance(m.get("content"), str)]
    model = build_tiny_model(root / "base-model", extra_text=texts)
    out.write(f"-- base model: a tiny Llama built offline at {model.name}/\n")
    engine = build_engine(f"sqlite:///{root}/tunebot.db")
    upgrade(engine)
    sessions = build_session_factory(engine)
    prompt = rows[0]["messages"][:-1]
    expected = rows[0]["messages"][-1]["content"]
    with VllmEmulator(model) as vllm:  # served under its path, as `vllm serve <path>` does
        plugin = LocalPlugin()
        values = plugin.values(
            {"TUNEBOT_VLLM_URL": vllm.base_url, "TUNEBOT_MODEL_DIR": str(root / "models")}
        )
        context = ProviderContext(today=lambda: None, session_factory=sessions, data_dir=root)  # type: ignore[arg-type,return-value]
        gateway: Any = plugin.build(values, endpoint=plugin.chat_endpoint(values), context=context)
        chat = openai.OpenAI(base_url=vllm.base_url, api_key="unused", max_retries=0)

        def ask(name: str) -> str:
            answer = chat.chat.completions.create(model=name, messages=prompt, max_tokens=24)
            return str(answer.choices[0].message.content or "").strip()

        question = prompt[-1]["content"]
        base = vllm.served_name
        before = ask(base) or "(nothing: its weights are random)"
        out.write(f"\nuser: {question}\ntunebot [base model]: {before}\n\n")
        file_id = gateway.upload_training_file(prepared.jsonl_path, filename="kakao.jsonl")
        job = gateway.create_job(
            TrainRequest(
                training_file=file_id,
                model=base,
                epochs=20,
                learning_rate=0.01,
                batch_size=6,
                suffix="kakao",
                extra=EXTRA,
            )
        )
        out.write(f"-- /finetune train provider=local: job {job.id} queued\n")
        worker = Worker(sessions, root, root / "models", heartbeat_every=2.0)
        worker.listener = lambda run, kind, data: _progress(out, kind, data)
        worker.run_once()
        done = gateway.get_job(job.id)
        out.write(f"\n-- job {done.id}: {done.status}\n")
        if done.fine_tuned_model is None:
            out.write(f"   {done.error_message}\n")
            return 1
        name = gateway.make_callable(done)
        out.write(f"-- vLLM loaded adapter {name} (POST /v1/load_lora_adapter); swapped in\n\n")
        after = ask(name)
        out.write(f"user: {question}\ntunebot [{name}]: {after}\n")
    engine.dispose()
    learned = after == expected
    verdict = "learned from the export" if learned else f"did not learn it (wanted {expected!r})"
    out.write(f"\nthe adapter {verdict}; {time.monotonic() - started:.0f} s in all\n")
    return 0 if learned else 1


def _progress(out: TextIO, kind: Any, data: dict[str, Any]) -> None:
    if str(kind) != "progress" or "train_loss" not in data:
        return
    total = int(data.get("total_steps") or 1)
    if data["step"] % max(1, total // 10) and data["step"] != total:
        return  # about ten lines for a whole run
    eta = data.get("eta_seconds")
    out.write(
        f"   training: step {data['step']}/{data['total_steps']}, loss {data['train_loss']:.3f}, "
        f"{data.get('tokens_per_second', 0):.0f} tokens/s"
        + (f", about {eta:.0f} s left" if eta is not None else "")
        + "\n"
    )
    out.flush()
