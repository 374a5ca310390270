"""`tunebot dataset validate|convert`: exit codes, output files and what is printed."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import chat_file, kakao_csv_lines, with_line
except ImportError:
    from datasets_helpers import chat_file, kakao_csv_lines, with_line  # type: ignore[no-redef]

from admin.datasets.cli import add_dataset_commands


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tunebot")
    add_dataset_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.jsonl"
    path.write_bytes(chat_file(12))
    return path


def test_validate_valid_file_exits_0(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["dataset", "validate", str(good)]) == 0
    assert "Dataset is valid" in capsys.readouterr().out


def test_validate_invalid_file_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(with_line(chat_file(12), "{broken"))
    assert _run(["dataset", "validate", str(path)]) == 1


def test_validate_missing_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["dataset", "validate", str(tmp_path / "none.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no such file" in err


def test_validate_json_prints_the_report(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["dataset", "validate", str(good), "--json", "--model", "gpt-4.1-mini"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True
    assert report["price"]["model"] == "gpt-4.1-mini-2025-04-14"


def test_usage_error_exits_2(good: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(["dataset", "validate", str(good), "--epochs", "many"])
    assert exit_info.value.code == 2


def test_convert_kakao_writes_chat_jsonl(tmp_path: Path) -> None:
    source, out = tmp_path / "talk.csv", tmp_path / "out.jsonl"
    source.write_text(kakao_csv_lines(12), encoding="cp949")
    assert _run(["dataset", "convert", str(source), "-o", str(out), "--assistant", "Csv"]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12
    assert json.loads(lines[0])["messages"][-1] == {"role": "assistant", "content": "대답 0"}


def test_convert_with_validation_split_writes_two_files(tmp_path: Path) -> None:
    source, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(chat_file(100))
    assert (
        _run(["dataset", "convert", str(source), "-o", str(out), "--validation-split", "0.2"]) == 0
    )
    held = tmp_path / "out.validation.jsonl"
    total = len(out.read_bytes().splitlines()) + len(held.read_bytes().splitlines())
    assert total == 100


def test_convert_invalid_data_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    source, out = tmp_path / "talk.csv", tmp_path / "out.jsonl"
    source.write_text(kakao_csv_lines(12), encoding="utf-8")
    assert _run(["dataset", "convert", str(source), "-o", str(out)]) == 1
    assert not out.exists()


def test_cli_module_runs_on_its_own(good: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "admin.datasets.cli", "dataset", "validate", str(good), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["examples"] == 12
