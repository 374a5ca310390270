"""Benchmark: `tunebot trainer`'s training against a plain TRL script doing the same training.

Run: python bench/bench_train.py [--examples N] [--epochs N] [--model ID_OR_PATH]
  On a machine with a CUDA GPU it trains `--model` (default Qwen/Qwen2.5-0.5B-Instruct, which
  must be downloadable or cached); without one, a tiny Llama built offline on the CPU. It
  prints what it found. Both sides train the same LoRA (same rank, targets, batch, epochs,
  learning rate, max length, seed) on the same chat examples, with the loss on assistant
  turns only, and report trained tokens per second (tokens / train_runtime) and peak memory.
  Each side runs in a fresh subprocess: peak RSS from getrusage (of the training child for
  tunebot, which trains in one), and peak CUDA memory allocated on a GPU.
  Target: tunebot's throughput within 10% of the plain script's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

OPTIONS = {
    "epochs": 2,
    "learning_rate": 1e-4,
    "batch_size": 8,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "max_len": 256,
    "seed": 42,
    "save_steps": 100000,
}


def _dataset(path: Path, n: int) -> Path:
    topics = ["deploys", "on-call", "the coffee machine", "meeting rooms", "the build", "lunch"]
    lines = []
    for i in range(n):
        topic = topics[i % len(topics)]
        question = f"Question {i}: what should I know about {topic} this week?"
        answer = f"About {topic}: " + " ".join(f"point {j} for case {i}." for j in range(6))
        messages = [
            {"role": "system", "content": "You answer like the team does."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
        lines.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _peak_gpu() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def run_tunebot(model: str, data: Path, work: Path, options: dict[str, Any]) -> dict[str, Any]:
    from trainer.runner import run_in_child
    from trainer.spec import Message, TrainSpec

    spec = TrainSpec(0, model, str(data), None, str(work / "adapter"), str(work / "ck"), options)
    outcome = run_in_child(spec, on_message=lambda *a: None)
    if outcome.final is not Message.DONE:
        raise SystemExit(f"tunebot training failed: {outcome.data}")
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "tokens": outcome.data["trained_tokens"],
        "seconds": outcome.data["train_runtime"],
        "peak_rss_mb": child_rss,
    }


def run_plain(model: str, data: Path, work: Path, options: dict[str, Any]) -> dict[str, Any]:
    """What a team would write with TRL's documentation at hand."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model, dtype="auto"),
        args=SFTConfig(
            output_dir=str(work / "plain"),
            num_train_epochs=options["epochs"],
            learning_rate=options["learning_rate"],
            per_device_train_batch_size=options["batch_size"],
            max_length=options["max_len"],
            seed=options["seed"],
            assistant_only_loss="generation" in str(tokenizer.chat_template or ""),
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            include_num_input_tokens_seen=True,
            use_cpu=not torch.cuda.is_available(),
        ),
        train_dataset=load_dataset("json", data_files=str(data), split="train"),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=options["lora_r"],
            lora_alpha=options["lora_alpha"],
            lora_dropout=options["lora_dropout"],
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    result = trainer.train()
    return {
        "tokens": int(trainer.state.num_input_tokens_seen or 0),
        "seconds": float(result.metrics["train_runtime"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": _peak_gpu(),
    }


def _one(side: str, model: str, data: Path, work: Path) -> None:
    run = run_tunebot if side == "tunebot" else run_plain
    print(json.dumps(run(model, data, work, OPTIONS)))


def _rate(result: dict[str, Any]) -> float:
    return float(result["tokens"]) / max(float(result["seconds"]), 1e-9)


def _hardware() -> tuple[str, bool]:
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return f"CUDA GPU: {name} ({torch.cuda.device_count()} device(s))", True
    return f"CPU only ({torch.get_num_threads()} threads), torch {torch.__version__}", False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs; best counts")
    parser.add_argument("--one", choices=("tunebot", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    OPTIONS["epochs"] = args.epochs
    if args.one:
        _one(args.one, args.model, Path(args.data), Path(args.work))
        return 0
    found, gpu = _hardware()
    print(f"hardware: {found}")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
        root = Path(folder)
        model = args.model
        if not gpu:
            from emulators.tiny_model import build_tiny_model

            model = str(build_tiny_model(root / "tiny"))
            print("model: a tiny Llama built offline (CPU run; pass a GPU for a real model)")
        else:
            print(f"model: {model}")
        data = _dataset(root / "train.jsonl", args.examples)
        results: dict[str, dict[str, Any]] = {}
        # Interleaved and best-of: a shared machine's load (or a warm disk cache) favours
        # neither side.
        for attempt, side in enumerate(("plain", "tunebot") * args.repeat):
            command = [sys.executable, __file__, "--one", side, "--model", model]
            command += ["--data", str(data), "--work", str(root / f"{side}-{attempt}")]
            command += ["--epochs", str(args.epochs)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                print(done.stderr[-2000:])
                return 1
            found = json.loads(done.stdout.strip().splitlines()[-1])
            best = results.get(side)
            if best is None or _rate(found) > _rate(best):
                results[side] = found
    for side, r in results.items():
        rate = _rate(r)
        gpu_mem = f", peak GPU {r['peak_gpu_mb']:.0f} MB" if r.get("peak_gpu_mb") else ""
        print(
            f"{side:>8}: {r['tokens']:,} tokens in {r['seconds']:.1f} s = {rate:,.0f} tokens/s, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB{gpu_mem}"
        )
    ratio = _rate(results["tunebot"]) / _rate(results["plain"])
    print(f"tunebot / plain TRL throughput: {ratio:.2f} (target >= 0.90; best of {args.repeat})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
