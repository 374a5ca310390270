"""`tunebot demo --local`: a KakaoTalk export in, a LoRA adapter trained for real on the CPU,
served by the vLLM emulator, and the answer after the swap coming from that adapter.

Everything tunebot itself runs is real: the bot over HTTP (Slack emulated), the dataset
conversion, `/finetune train provider=local`, `tunebot trainer`'s worker (training a tiny Llama
model in a child process with TRL and PEFT), the scheduler's swap, and the adapter loading over
vLLM's HTTP API. Only Slack and the vLLM server are emulated (the latter generating with
transformers + PEFT from the adapter files).
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
    import threading

    import openai

    from admin.datasets.api import prepare
    from emulators.demo import ADMIN, CHANNEL, KAKAO_CSV
    from emulators.sandbox import Sandbox
    from emulators.tiny_model import build_tiny_model
    from emulators.vllm import VllmEmulator
    from trainer.worker import Worker

    started = time.monotonic()
    out.write("tunebot demo --local: the real bot, a real LoRA training on this CPU, served by\n")
    out.write("an emulated vLLM (transformers + PEFT generating from the adapter files)\n\n")
    # The tiny model's tokenizer is trained on the export's text (nothing is downloaded).
    preview = prepare(KAKAO_CSV.encode("utf-8-sig"), assistant=ASSISTANT, output=root / "p.jsonl")
    rows = [json.loads(line) for line in preview.read_bytes().splitlines() if line.strip()]
    texts = [m["content"] for r in rows for m in r["messages"] if isinstance(m.get("content"), str)]
    model = build_tiny_model(root / "base-model", extra_text=texts)
    system, question = rows[0]["messages"][0]["content"], rows[0]["messages"][1]["content"]
    expected = rows[0]["messages"][-1]["content"]
    models = root / "models"
    with (
        VllmEmulator(model) as vllm,
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
        bot = f"<@{slack.bot_user_id}>"
        chat = openai.OpenAI(base_url=vllm.base_url, api_key="unused", max_retries=0)
        base = chat.chat.completions.create(
            model=vllm.served_name,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            max_tokens=24,
        )
        out.write(f"-- base model: a tiny Llama built offline, served by vLLM as {model.name}/\n")
        said = (base.choices[0].message.content or "").strip() or "(nothing: random weights)"
        out.write(f"   it answers {question!r} with: {said}\n\n")

        out.write("-- an admin DMs a KakaoTalk export and picks whose voice to learn\n")
        dm = slack.open_dm(ADMIN)
        file = slack.add_file(ADMIN, "KakaoTalk_Chat_team.csv", KAKAO_CSV.encode("utf-8-sig"))
        sent = slack.post_as_user(ADMIN, dm, "", files=[file])
        picker = slack.wait_for(lambda: _bot(box, dm, sent.ts, lambda m: m.get("blocks")))
        box.select_option(ADMIN, dm, picker, ASSISTANT)
        report = slack.wait_for(
            lambda: _bot(box, dm, sent.ts, lambda m: "Stored as" in (m.get("text") or "")),
            timeout=60,
        )
        stored = [t for t in report["text"].splitlines() if "Stored as" in t]
        out.write(f"   tunebot: {(stored or report['text'].splitlines())[0]}\n\n")

        words = (
            f"train ds-1 provider=local model={vllm.served_name} epochs=60 lr=0.01 batch=6 "
            "lora_r=16 lora_alpha=32 lora_dropout=0 max_len=128"
        )
        out.write(f"-- /finetune {words.replace(str(model), '<tiny model>')}\n")
        slack.send_slash_command(ADMIN, CHANNEL, "/finetune", words)
        reply = slack.wait_for(lambda: [r for r in slack.responses if "local-" in r["text"]], 60)
        out.write(f"   tunebot: {reply[0]['text'].splitlines()[0]}\n")
        out.write("-- tunebot trainer claims the job and trains it in a child process\n")
        worker = Worker(box.deps.session_factory, box.settings.dataset_dir, models)
        worker.listener = lambda run, kind, data: _progress(out, kind, data)
        trainer = threading.Thread(target=worker.run_once)
        trainer.start()
        trainer.join()
        from storage import training_repo

        with box.deps.session_factory() as session:
            run = training_repo.get_run(session, run_id=1)
            adapter = run.adapter_name if run is not None else "?"
        news = slack.wait_for(
            lambda: _bot(box, CHANNEL, None, lambda m: adapter in (m.get("text") or "")),
            timeout=120,
        )
        out.write("-- the scheduler loads the adapter into vLLM and swaps it in\n")
        out.write(f"   tunebot: {news['text'].splitlines()[0]}\n\n")

        asked = slack.post_as_user(minji, CHANNEL, f"{bot} {question}")
        out.write(f"minji: @tunebot {question}\n")
        turn = box.wait_for_turn(CHANNEL, asked.ts, timeout=60)
        answers = box.replies_after(CHANNEL, asked.ts, asked.ts)
        after = (answers[-1]["text"] if answers else "").strip()
        out.write(f"tunebot [{turn.model}]: {after}\n")
    learned = after == expected and turn.model.startswith("tunebot-")
    verdict = "learned from the export" if learned else f"did not learn it (wanted {expected!r})"
    out.write(f"\nthe adapter {verdict}; {time.monotonic() - started:.0f} s in all\n")
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
