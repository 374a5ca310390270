"""prepare(): the exact bytes that get uploaded, their sha256, and the validation split."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import chat, chat_file, codes, jsonl, with_line
except ImportError:
    from datasets_helpers import chat, chat_file, codes, jsonl, with_line  # type: ignore[no-redef]

from admin.datasets import analyze, prepare
from admin.datasets.output import validation_path


def test_normalised_jsonl_is_compact_utf8_one_example_per_line() -> None:
    source = b"\xef\xbb\xbf" + jsonl([chat("안녕")]).replace(b"\n", b"\r\n") + chat_file(11)
    with prepare(source) as prepared:
        data = prepared.read_bytes()
    first = data.split(b"\n")[0]
    assert first == json.dumps(chat("안녕"), ensure_ascii=False, separators=(",", ":")).encode()
    assert data.endswith(b"\n") and b"\r" not in data
    assert len(data.splitlines()) == 12


def test_sha256_names_the_written_bytes() -> None:
    with prepare(chat_file(12)) as prepared:
        assert prepared.sha256 == hashlib.sha256(prepared.read_bytes()).hexdigest()
        assert prepared.report.sha256 == prepared.sha256


def test_invalid_lines_are_not_written() -> None:
    with prepare(with_line(chat_file(12), "garbage")) as prepared:
        assert prepared.examples == 12
        assert not prepared.report.valid


def test_temporary_files_are_removed_by_cleanup() -> None:
    prepared = prepare(chat_file(12))
    path = prepared.jsonl_path
    prepared.cleanup()
    assert not path.exists()


def test_validation_split_is_deterministic_and_disjoint(tmp_path: Path) -> None:
    source = chat_file(200)
    first = prepare(source, validation_split=0.2, output=tmp_path / "a.jsonl")
    second = prepare(source, validation_split=0.2, output=tmp_path / "b.jsonl")
    assert first.validation is not None and second.validation is not None
    train, held = (
        set(first.read_bytes().splitlines()),
        set(first.validation.read_bytes().splitlines()),
    )
    assert not train & held
    assert len(train) + len(held) == 200
    assert 20 <= len(held) <= 60
    assert first.validation.read_bytes() == second.validation.read_bytes()
    assert first.validation.jsonl_path == tmp_path / "a.validation.jsonl"


def test_split_report_counts_training_examples_only() -> None:
    with prepare(chat_file(200), validation_split=0.2) as prepared:
        assert prepared.validation is not None
        assert prepared.report.examples == prepared.examples
        assert prepared.report.validation is not None
        assert prepared.report.validation.examples == prepared.validation.examples


def test_validation_split_out_of_range_is_an_error() -> None:
    with prepare(chat_file(12), validation_split=1.5) as prepared:
        assert "invalid_validation_split" in codes(prepared.report.errors)


def test_overlap_between_training_and_validation_files_warns() -> None:
    report = analyze(chat_file(12), validation=chat_file(3, start=10))
    assert report.warnings.counts["train_validation_overlap"] == 2
    assert report.validation is not None


def test_progress_is_reported_in_bytes() -> None:
    calls: list[tuple[int, int]] = []
    source = chat_file(50)
    analyze(source, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (len(source), len(source))


def test_split_of_an_unreadable_source_leaves_no_files(tmp_path: Path) -> None:
    prepared = prepare(tmp_path / "missing.jsonl", validation_split=0.1)
    paths = [prepared.jsonl_path, validation_path(prepared.jsonl_path)]
    prepared.cleanup()
    assert not any(p.exists() for p in paths)


def test_separate_validation_file_is_prepared_too() -> None:
    with prepare(chat_file(12), validation=chat_file(5, start=100)) as prepared:
        assert prepared.validation is not None
        assert prepared.validation.examples == 5
        assert prepared.validation.report.valid  # no 10-example minimum for validation
