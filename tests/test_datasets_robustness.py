"""Damaged input of every kind yields a report, never an exception or an internal error."""

from __future__ import annotations

import io
import random

import pytest

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import KAKAO_CSV, chat_file, jsonl
except ImportError:
    from datasets_helpers import KAKAO_CSV, chat_file, jsonl  # type: ignore[no-redef]
from openpyxl import Workbook

from admin.datasets import DatasetReport, analyze, list_speakers, render_report_for_slack


def _xlsx() -> bytes:
    book = Workbook()
    book.active.append(["prompt", "completion"])
    book.active.append(["q", "a"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


SAMPLES = {
    "chat": chat_file(12),
    "kakao_csv": KAKAO_CSV.encode("cp949"),
    "kakao_pc": (
        "--------------- 2026년 10월 2일 금요일 ---------------\n"
        "[가] [오후 3:42] 안녕\n[나] [오후 3:43] 응\n"
    ).encode(),
    "csv": b"prompt,completion\nq,a\n",
    "json": b'[{"prompt": "q", "completion": "a"}]',
    "dpo": jsonl([{"input": {"messages": []}, "preferred_output": [], "non_preferred_output": 1}]),
    "xlsx": _xlsx(),
}


def _damaged(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return data[: rng.randrange(len(data) + 1)]
    if kind == 1:
        spot = rng.randrange(len(data))
        return data[:spot] + bytes([rng.randrange(256)]) + data[spot + 1 :]
    if kind == 2:
        spot = rng.randrange(len(data))
        return data[:spot] + rng.randbytes(rng.randrange(1, 8)) + data[spot:]
    return rng.randbytes(rng.randrange(1, 200))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_damaged_files_give_reports(name: str) -> None:
    rng = random.Random(name)
    for _ in range(40):
        data = _damaged(SAMPLES[name], rng)
        for fmt in (None, name):
            report = analyze(data, fmt=fmt, assistant="나")
            assert isinstance(report, DatasetReport)
            assert "internal_error" not in report.errors.counts, report.to_dict()
            render_report_for_slack(report)
        list_speakers(data)


def test_odd_source_strings_are_reports() -> None:
    for source in ("", "no\x00such", "x" * 5000, "relative/missing.jsonl"):
        report = analyze(source)
        assert not report.valid


def test_impossible_kakao_times_do_not_break_conversion() -> None:
    day = "--------------- 2026년 13월 40일 금요일 ---------------\n"
    text = day + "[가] [99:99] 안녕\n[나] [99:00] 응\n"
    report = analyze(text.encode(), assistant="나")
    assert "internal_error" not in report.errors.counts
    assert report.examples == 1
