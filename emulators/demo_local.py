"""`tunebot demo --local`: a KakaoTalk export in, a LoRA adapter trained for real on the CPU,
served by the vLLM emulator, and the answer after the swap coming from that adapter.

Everything tunebot itself runs is real: the bot over HTTP (Slack emulated), the dataset
conversion, `/finetune train provider=local`, `tunebot trainer`'s worker (training a tiny Llama
model in a child process with TRL and PEFT), the scheduler's swap, and the adapter loading over
vLLM's HTTP API. Only Slack and the vLLM server are emulated (the latter generating with
transformers + PEFT from the adapter files).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

ASSISTANT = "준"
# The base model by a Hugging Face id, as a real deployment names it: the demo puts its tiny
# model in a Hugging Face cache of its own, where the trainer finds it offline.
BASE_MODEL = "tunebot-demo/tiny-llama"
BASE_MODEL_IS = "a tiny Llama with random weights, built here for the demo"
# Enough for the tiny model to learn the export's answers by heart, in as few steps as that
# takes (each step costs the trainer's fixed overhead on a CPU).
TRAIN_OPTIONS = "epochs=60 lr=0.01 batch=6 lora_r=16 lora_alpha=32 lora_dropout=0 max_len=128"
# The environment of the demo's processes (the trainer's child process inherits it):
DEMO_ENV = {
    # What the Hugging Face libraries print on their own: progress bars (errors and other
    # warnings still show).
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_OFFLINE": "1",  # nothing is downloaded: a missing file is an error, not a fetch
    # The tiny model's operations are too small to share between threads: with two, each
    # step waited on the other thread (3-10x slower on a busy 2-core machine), and one
    # thread leaves the other core to the bot and vLLM.
    "OMP_NUM_THREADS": "1",
}
# Warnings that say nothing to someone watching the demo: deprecation notices of arguments
# TRL passes to transformers (not ours to change), and PEFT saying at every checkpoint that
# it cannot look up the base model's config by its id offline (the demo trains no embeddings,
# so the vocabulary it would check is unchanged). Each is matched on its start.
IGNORED_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    ("`gradient_checkpointing` is deprecated", FutureWarning),
    ("`is_gradient_checkpointing` is deprecated", FutureWarning),
    (f"Could not find a config file in {BASE_MODEL}", UserWarning),
)


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
    with (
        tempfile.TemporaryDirectory(prefix="tunebot-demo-local-") as folder,
        demo_environment(Path(folder) / "huggingface"),
    ):
        return _play(Path(folder), out)


@contextlib.contextmanager
def demo_environment(hub_cache: Path) -> Iterator[None]:
    """DEMO_ENV, one torch thread and IGNORED_WARNINGS for this process and the ones
    it starts, with `hub_cache` as the Hugging Face cache; all put back on the way out."""
    import torch
    from transformers.utils import logging as hf_logging

    env = {**DEMO_ENV, "HF_HUB_CACHE": str(hub_cache)}
    filters = [f"ignore:{message}:{kind.__name__}" for message, kind in IGNORED_WARNINGS]
    env["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), *filters]))
    saved = {name: os.environ.get(name) for name in env}
    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    threads = torch.get_num_threads()
    scheduler_log = logging.getLogger("apscheduler")
    scheduler_level = scheduler_log.level
    os.environ.update(env)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(1)
    # Polling every second, a tick that runs long makes the next one skip: expected here.
    scheduler_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for message, kind in IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=re.escape(message), category=kind)
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if bars:
            hf_logging.enable_progress_bar()
        hf_logging.set_verbosity(verbosity)
        torch.set_num_threads(threads)
        scheduler_log.setLevel(scheduler_level)


def _play(root: Path, out: TextIO) -> int:
    import threading

    import openai

    from admin.datasets.api import prepare
    from emulators.demo import ADMIN, CHANNEL, KAKAO_CSV, transcript_line
    from emulators.sandbox import Sandbox
    from emulators.tiny_model import build_in_hub_cache
    from emulators.vllm import VllmEmulator
    from storage import training_repo
    from trainer.worker import Worker

    started = time.monotonic()
    out.write("tunebot demo --local: the real bot over HTTP with emulated Slack, a real LoRA\n")
    out.write("training on this CPU by tunebot trainer, served by an emulated vLLM\n")
    out.write("(transformers + PEFT generating from the adapter files). No network.\n\n")
    # The tiny model's tokenizer is trained on the export's text (nothing is downloaded).
    preview = prepare(KAKAO_CSV.encode("utf-8-sig"), assistant=ASSISTANT, output=root / "p.jsonl")
    rows = [json.loads(line) for line in preview.read_bytes().splitlines() if line.strip()]
    texts = [m["content"] for r in rows for m in r["messages"] if isinstance(m.get("content"), str)]
    model = build_in_hub_cache(root / "huggingface", BASE_MODEL, extra_text=texts)
    system, question = rows[0]["messages"][0]["content"], rows[0]["messages"][1]["content"]
    expected = rows[0]["messages"][-1]["content"]
    models = root / "models"
    with (
        VllmEmulator(model, served_name=BASE_MODEL) as vllm,
        Sandbox.open(
            admins=frozenset({ADMIN}),
            notify_channel=CHANNEL,
            run_scheduler=True,
            poll_seconds=1,
            system_prompt=system,
            provider_env={"TUNEBOT_VLLM_URL": vllm.base_url, "TUNEBOT_MODEL_DIR": str(models)},
        ) as box,
    ):
        slack = box.slack
        slack.add_user("admin", user_id=ADMIN)
        slack.add_channel("general", channel_id=CHANNEL)
        minji = slack.add_user("minji")
        names = {minji: "minji", ADMIN: "admin", slack.bot_user_id: "tunebot"}

        def line(where: str, who: str, text: str) -> None:
            transcript_line(out, names, where, who, text)

        out.write(f"-- the base model: {BASE_MODEL}, {BASE_MODEL_IS}\n")
        chat = openai.OpenAI(base_url=vllm.base_url, api_key="unused", max_retries=0)
        base = chat.chat.completions.create(
            model=BASE_MODEL,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            max_tokens=24,
        )
        said = (base.choices[0].message.content or "").strip() or "(nothing)"
        line("(vLLM)", BASE_MODEL, f"asked {question!r}, it says: {said}")

        out.write("\n-- an admin DMs a KakaoTalk export and picks whose voice to learn\n")
        dm = slack.open_dm(ADMIN)
        file = slack.add_file(ADMIN, "KakaoTalk_Chat_team.csv", KAKAO_CSV.encode("utf-8-sig"))
        sent = slack.post_as_user(ADMIN, dm, "", files=[file])
        line("DM", "admin", "(uploads KakaoTalk_Chat_team.csv)")
        picker = slack.wait_for(lambda: _bot(box, dm, sent.ts, lambda m: m.get("blocks")))
        box.select_option(ADMIN, dm, picker, ASSISTANT)
        line("DM", "admin", f"(picks {ASSISTANT})")
        report = slack.wait_for(
            lambda: _bot(box, dm, sent.ts, lambda m: "Stored as" in (m.get("text") or "")),
            timeout=60,
        )
        stored = [t for t in report["text"].splitlines() if "Stored as" in t]
        line("DM", "tunebot", stored[0])

        out.write("\n-- the admin trains it with the local provider\n")
        words = f"train ds-1 provider=local model={BASE_MODEL} {TRAIN_OPTIONS}"
        slack.send_slash_command(ADMIN, CHANNEL, "/finetune", words)
        line("#general", "admin", f"/finetune {words}")
        reply = slack.wait_for(lambda: [r for r in slack.responses if "local-" in r["text"]], 60)
        line("#general", "tunebot", reply[0]["text"])
        out.write("-- tunebot trainer claims the job and trains it in a child process\n")
        worker = Worker(box.deps.session_factory, box.settings.dataset_dir, models)
        worker.listener = lambda run, kind, data: _progress(out, kind, data)
        trainer = threading.Thread(target=worker.run_once)
        trained = time.monotonic()
        trainer.start()
        trainer.join()
        trained = time.monotonic() - trained
        with box.deps.session_factory() as session:
            run = training_repo.get_run(session, run_id=1)
            adapter = run.adapter_name if run is not None else "?"
        news = slack.wait_for(
            lambda: _bot(box, CHANNEL, None, lambda m: adapter in (m.get("text") or "")),
            timeout=120,
        )
        out.write("-- the scheduler loads the adapter into vLLM and swaps it in\n")
        for text in news["text"].splitlines():
            line("#general", "tunebot", text)

        out.write("\n-- the next question is answered by the adapter\n")
        asked = slack.post_as_user(minji, CHANNEL, f"<@{slack.bot_user_id}> {question}")
        line("#general", "minji", f"@tunebot {question}")
        turn = box.wait_for_turn(CHANNEL, asked.ts, timeout=60)
        answers = box.replies_after(CHANNEL, asked.ts, asked.ts)
        after = (answers[-1]["text"] if answers else "").strip()
        line("#general", f"tunebot [{turn.model}]", after)
    learned = after == expected and turn.model == adapter
    verdict = "learned" if learned else f"did not learn (wanted {expected!r})"
    out.write(
        f"\n{adapter} is a LoRA adapter on {BASE_MODEL} ({BASE_MODEL_IS}): it {verdict} "
        f"the export's answer. Training took {trained:.0f} s, the whole demo "
        f"{time.monotonic() - started:.0f} s.\n"
    )
    return 0 if learned else 1


def _bot(box: Any, channel: str, thread: str | None, match: Any) -> Any:
    for message in box.slack.messages(channel, thread):
        if message.get("bot_id") and match(message):
            return message
    return None


def _progress(out: TextIO, kind: Any, data: dict[str, Any]) -> None:
    if str(kind) != "progress" or "train_loss" not in data:
        return
    total = int(data.get("total_steps") or 1)
    if data["step"] % max(1, total // 5) and data["step"] != total:
        return  # about five lines for a whole run
    eta = data.get("eta_seconds")
    out.write(
        f"{'(trainer)':<18} step {data['step']}/{data['total_steps']}, loss "
        f"{data['train_loss']:.3f}, {data.get('tokens_per_second', 0):.0f} tokens/s"
        + (f", about {eta:.0f} s left" if eta is not None else "")
        + "\n"
    )
    out.flush()
