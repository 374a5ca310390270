"""Benchmark: dataset validation speed and memory, `analyze` against a cookbook-shaped baseline.

Run: python bench/bench_validate.py [--quick] [--no-500] [--baseline-full]
  default          a ~50 MB chat JSONL: speed against the baseline (target >= 3x, best of
                   --repeat interleaved runs) and peak RSS; then a ~500 MB one: time and
                   peak RSS of analyze (target <= 150 MB for both). About a minute and a half.
  --no-500         skip the 500 MB file
  --baseline-full  also run the baseline on the 500 MB file (it holds the whole file in
                   memory: several GB, and minutes)
  --quick          a ~10 MB file only, one run, for a fast look

The baseline is written here the way the OpenAI cookbook notebook does it: every line
json.loads-ed into a list, the format checks, every string of every message encoded with
tiktoken's `encode` for the count (assistant content once more for the assistant count).
Both produce the token total; the script asserts they are identical. Peak RSS is measured
in a fresh subprocess per run: a child runs the work, its parent reads
getrusage(RUSAGE_CHILDREN).ru_maxrss once it has ended.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from admin.datasets import analyze  # noqa: E402
from admin.tokens import encoding_for  # noqa: E402

MODEL = "gpt-4o-mini-2024-07-18"


def _words(text: str) -> list[str]:
    return text.split()


SYSTEM_PROMPTS = [
    "You are Tunebot, the helpdesk assistant of a Korean game studio. Answer in the language "
    "of the question, briefly and politely, and point to the right internal wiki page.",
    "너는 사내 IT 헬프데스크 챗봇이야. 질문한 사람의 언어로, 짧고 정확하게 답해. "
    "모르면 모른다고 말하고 담당 채널(#it-help)을 안내해.",
    "You are a customer support agent for an online bookstore. Be friendly, keep answers "
    "under five sentences, and never promise refunds without an order number.",
    "너는 카카오톡 친구처럼 말하는 챗봇이야. 반말로, 이모티콘 없이, 짧게 대답해.",
    "You answer questions about the company's travel and expense policy. Quote the policy "
    "section number when you can.",
]
KO_WORDS = _words(
    "회의 일정 보고서 서버 배포 오류 로그 확인 요청 승인 휴가 출장 경비 영수증 계정 비밀번호 "
    "초기화 프로젝트 마감 고객 문의 환불 주문 배송 지연 업데이트 버전 테스트 결과 공유 문서 "
    "작성 검토 오늘 내일 다음주 오전 오후 팀장님 담당자 채널 공지 링크 첨부 파일 권한"
)
EN_WORDS = _words(
    "meeting schedule report server deploy error log check request approve vacation trip "
    "expense receipt account password reset project deadline customer refund order shipping "
    "delay update version test result share document review today tomorrow next week morning "
    "afternoon manager owner channel notice link attachment permission please thanks"
)
KO_ENDINGS = ("요.", "습니다.", "나요?", "까요?", "어요.", "죠?", "네요!")
SHORT_REPLIES = ("네", "감사합니다!", "OK", "알겠습니다.", "Thanks!", "ㅋㅋ 넵")


def sentence(rng: random.Random) -> str:
    if rng.random() < 0.55:
        words = rng.choices(KO_WORDS, k=rng.randint(4, 12))
        return " ".join(words) + rng.choice(KO_ENDINGS)
    words = rng.choices(EN_WORDS, k=rng.randint(5, 16))
    return " ".join(words).capitalize() + rng.choice((".", "?", "!"))


def message_text(rng: random.Random, sentences: tuple[int, int]) -> str:
    parts = [sentence(rng) for _ in range(rng.randint(*sentences))]
    if rng.random() < 0.3:
        parts.append(f"(#{rng.randint(1000, 99999)})")
    return " ".join(parts)


def example(rng: random.Random) -> dict[str, object]:
    messages: list[dict[str, object]] = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}]
    for _ in range(rng.randint(1, 4)):
        messages.append({"role": "user", "content": message_text(rng, (1, 3))})
        short = rng.random() < 0.1
        reply = rng.choice(SHORT_REPLIES) if short else message_text(rng, (2, 6))
        messages.append({"role": "assistant", "content": reply})
    return {"messages": messages}


def generate(path: Path, target_bytes: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    written = count = 0
    with path.open("wb") as f:
        while written < target_bytes:
            line = json.dumps(example(rng), ensure_ascii=rng.random() < 0.2).encode() + b"\n"
            f.write(line)
            written += len(line)
            count += 1
    return count


def baseline(path: Path, model: str = MODEL) -> dict[str, int]:
    """The cookbook notebook's shape: load everything, check, count with tiktoken's encode."""
    encoding = encoding_for(model)
    with path.open(encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]
    format_errors: dict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            format_errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            format_errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                format_errors["message_missing_key"] += 1
            if any(
                k not in ("role", "content", "name", "function_call", "weight") for k in message
            ):
                format_errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                format_errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                format_errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            format_errors["example_missing_assistant_message"] += 1

    def num_tokens(messages: list[dict[str, object]]) -> int:
        n = 0
        for message in messages:
            n += 3
            for key, value in message.items():
                if isinstance(value, str):
                    n += len(encoding.encode(value))
                    if key == "name":
                        n += 1
        return n + 3

    def num_assistant_tokens(messages: list[dict[str, object]]) -> int:
        return sum(
            len(encoding.encode(str(m["content"]))) for m in messages if m["role"] == "assistant"
        )

    n_missing_system = n_missing_user = 0
    convo_lens, assistant_lens = [], []
    for ex in dataset:
        messages = ex["messages"]
        n_missing_system += not any(m["role"] == "system" for m in messages)
        n_missing_user += not any(m["role"] == "user" for m in messages)
        convo_lens.append(num_tokens(messages))
        assistant_lens.append(num_assistant_tokens(messages))
    billed = sum(min(65_536, n) for n in convo_lens)
    return {"total": sum(convo_lens), "billed": billed, "assistant": sum(assistant_lens)}


def ours(path: Path) -> dict[str, int]:
    report = analyze(path, model=MODEL)
    t = report.tokens
    return {"total": t.total, "billed": t.billed_per_epoch, "assistant": t.assistant}


def timed(fn: Callable[[Path], dict[str, int]], path: Path) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    result = fn(path)
    return time.perf_counter() - start, result


def peak_rss_mb(which: str, path: Path) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of `which` run on `path` in a fresh process tree."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "w = time.perf_counter() - t\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, w)\n"
    )
    child = [sys.executable, __file__, "--child", which, str(path)]
    out = subprocess.run(
        [sys.executable, "-c", probe, *child], check=True, capture_output=True, text=True
    ).stdout.split()
    return int(out[-2]) / 1024, float(out[-1])


def child(which: str, path: Path) -> None:
    result = (baseline if which == "baseline" else ours)(path)
    print(json.dumps(result))


def measure(path: Path, mb: int, n: int, args: argparse.Namespace) -> tuple[Any, ...]:
    """One table row: sizes, tokens, times, speedup and peak RSS for one file."""
    with_baseline = mb <= 50 or args.baseline_full
    repeat = 1 if args.quick or mb > 50 else args.repeat
    # Interleaved repeats, best of each: the machine may be shared, and noise only adds time.
    ours_times, base_times = [], []
    for _ in range(repeat):
        elapsed, got = timed(ours, path)
        ours_times.append(elapsed)
        if with_baseline:
            elapsed, expected = timed(baseline, path)
            base_times.append(elapsed)
            assert got == expected, f"token counts differ: {got} != {expected}"
    t_ours = min(ours_times)
    time_base = min(base_times) if base_times else None
    speedup = time_base / t_ours if time_base else None
    rss, _ = peak_rss_mb("analyze", path)
    rss_base = peak_rss_mb("baseline", path)[0] if with_baseline and mb <= 50 else None
    return (f"{mb} MB", n, got["total"], time_base, t_ours, speedup, rss_base, rss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~10 MB file only")
    parser.add_argument("--no-500", action="store_true", help="skip the ~500 MB file")
    parser.add_argument("--baseline-full", action="store_true", help="baseline on 500 MB too")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (best kept)")
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    sizes = [10] if args.quick else [50] if args.no_500 else [50, 500]
    encoding_for(MODEL)  # load the vocabulary before any timing
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="tunebot-bench-") as tmp:
        for mb in sizes:
            path = Path(tmp) / f"chat_{mb}mb.jsonl"
            n = generate(path, mb * 1_000_000)
            rows.append(measure(path, mb, n, args))
            ok &= rows[-1][-1] <= 150 and (mb != 50 or rows[-1][5] >= 3)
            path.unlink()
    print_table(rows)
    return 0 if ok else 1


def print_table(rows: list[tuple[Any, ...]]) -> None:
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    header = (
        f"{'file':>7} {'examples':>9} {'tokens':>12} {'baseline s':>10} {'analyze s':>9} "
        f"{'speedup':>7} {'base RSS MB':>11} {'analyze RSS MB':>14}"
    )
    print(header)
    for label, n, tokens, tb, to, sp, rb, ro in rows:
        print(
            f"{label:>7} {n:>9,} {tokens:>12,} {fmt(tb, '.2f'):>10} {to:>9.2f} "
            f"{fmt(sp, '.2f'):>7} {fmt(rb, '.0f'):>11} {ro:>14.0f}"
        )
    print("targets: speedup >= 3 on 50 MB; analyze peak RSS <= 150 MB (2 cores)")


if __name__ == "__main__":
    sys.exit(main())
