"""Benchmark the eval gate: 50 held-out examples, both models at a realistic generation pace.

Run: python bench/bench_eval.py [--examples 50] [--ms-per-token 30] [--tokens 60]
Target (issue 13): the evaluation finishes in under 30 s because answers are requested
concurrently (done one at a time, 100 answers × 60 tokens × 30 ms would take 180 s).
Prints the wall time of the scheduler tick that evaluates, the concurrency, the time spent
answering and the scoring time on its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from admin.poller import tick
from admin.providers.base import TrainRequest
from emulators.openai_chat import tokens
from emulators.sandbox import Sandbox
from storage import job_repo, repo
from storage.models import EvalAnswer, Evaluation

ADMIN = "U0BENCHAD"


def answer(words: int, text: str, filler: str) -> str:
    """About `words` emulator tokens of Korean text (the emulator counts 4 characters a token)."""
    while tokens(text) < words:
        text += filler
    return text[: words * 4]


def held_out(n: int, words: int) -> tuple[bytes, dict[str, str], dict[str, str]]:
    """The held-out JSONL, and what each model answers (the candidate is the closer one)."""
    lines, candidate, current = [], {}, {}
    for i in range(n):
        question = f"배포 일정은 어떻게 되나요? (질문 {i})"
        reference = answer(
            words,
            f"{i}번 질문의 답: 배포는 매주 화요일 오후에 팀 위키 절차대로 진행합니다. ",
            "담당자와 일정을 확인하고 변경 사항을 채널에 공유하세요. ",
        )
        lines.append(
            {
                "messages": [
                    {"role": "system", "content": "당신은 팀의 도우미입니다."},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": reference},
                ]
            }
        )
        candidate[question] = reference
        current[question] = answer(
            words, "일반적인 답변입니다. ", "자세한 내용은 관련 문서를 참고하시기 바랍니다. "
        )
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    return data, candidate, current


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=50)
    parser.add_argument("--ms-per-token", type=float, default=30.0)
    parser.add_argument("--tokens", type=int, default=60)
    args = parser.parse_args()
    data, candidate, current = held_out(args.examples, args.tokens)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox.open(
            admins=frozenset({ADMIN}), data_dir=Path(tmp) / "data", eval_max_examples=args.examples
        ) as box,
    ):
        sha = hashlib.sha256(data).hexdigest()
        source = Path(tmp) / "held.jsonl"
        source.write_bytes(data)
        box.slack.add_user("admin", user_id=ADMIN)
        box.deps.store.put(source, sha)
        provider = box.deps.providers.get(None)
        file_id = provider.upload_training_file(source, filename="bench-held.jsonl")
        snap = provider.create_job(
            TrainRequest(file_id, box.settings.base_model, provider.Options())
        )
        with box.deps.session_factory.begin() as session:
            dataset, _ = repo.claim_dataset(
                session,
                values={
                    "name": "held.jsonl",
                    "uploaded_by": ADMIN,
                    "sha256": sha,
                    "source_format": "chat_jsonl",
                    "model": box.settings.base_model,
                    "examples": args.examples,
                    "size_bytes": len(data),
                    "report": {"valid": True},
                },
            )
            job_repo.create_job(
                session,
                values={
                    "provider": provider.name,
                    "provider_job_id": snap.id,
                    "dataset_id": None,
                    "validation_dataset_id": dataset.id,
                    "base_model": box.settings.base_model,
                    "method": "supervised",
                    "hyperparameters": {},
                    "started_by": ADMIN,
                    "channel_id": None,
                    "status": snap.status,
                },
            )
        model = box.openai.succeed_job(snap.id)
        box.openai.script(model, candidate)
        box.openai.script(box.settings.base_model, current)
        box.openai.token_delay = args.ms_per_token / 1000

        poller = box.deps.poller()
        started = time.perf_counter()
        outcome = tick(poller)
        wall = time.perf_counter() - started

        with box.deps.session_factory() as session:
            row = session.query(Evaluation).one()
            serial = sum(a.seconds for a in session.query(EvalAnswer))
        report = row.report or {}
        seconds = report.get("seconds", {})
        assert outcome.went_live == ["live"], (outcome, row.last_error)
        assert poller.evaluation is not None
        print(
            f"{args.examples} held-out examples, {2 * args.examples} answers of ~{args.tokens} "
            f"tokens at {args.ms_per_token:g} ms/token"
        )
        print(f"concurrency: {poller.evaluation.config.concurrency} answers at a time")
        print(f"wall time of the evaluating tick: {wall:.2f} s (target < 30 s)")
        print(
            f"answering: {seconds.get('answering', 0):.2f} s "
            f"(the same answers one at a time: {serial:.1f} s)"
        )
        scored = f"{report.get('examples')} × 2 answers"
        print(f"scoring (chrF, {scored}): {seconds.get('scoring', 0):.3f} s")
        print(
            f"scores: new {report['candidate']['score']:.1f} vs current "
            f"{report['current']['score']:.1f}; {report['wins']}/{report['ties']}/"
            f"{report['losses']} better/tied/worse"
        )
    return 0 if wall < 30 else 1


if __name__ == "__main__":
    sys.exit(main())
