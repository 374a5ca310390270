"""`tunebot dataset validate|convert`: exit codes, output files and what is printed."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import chat, chat_file, kakao_csv_lines, with_line
except ImportError:
    from datasets_helpers import (  # type: ignore[no-redef]
        chat,
        chat_file,
        kakao_csv_lines,
        with_line,
    )

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


def test_convert_with_nothing_converted_writes_nothing_says_why_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "talk.csv", tmp_path / "out.jsonl"
    source.write_text(kakao_csv_lines(12), encoding="utf-8")
    assert _run(["dataset", "convert", str(source), "-o", str(out)]) == 1
    assert not out.exists()
    captured = capsys.readouterr()
    assert "Nothing written" in captured.err
    assert "assistant_required" in captured.out
    assert [p.name for p in tmp_path.iterdir()] == ["talk.csv"]  # no work files left


def test_convert_writes_what_converted_even_when_invalid_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A chat export with fewer than 10 conversations: written, reported, not refused.
    source, out = tmp_path / "talk.csv", tmp_path / "out.jsonl"
    source.write_text(kakao_csv_lines(4), encoding="utf-8")
    argv = ["dataset", "convert", str(source), "-o", str(out), "--assistant", "Csv"]
    assert _run(argv) == 0
    assert len(out.read_bytes().splitlines()) == 4
    captured = capsys.readouterr()
    assert "Wrote 4 examples" in captured.err
    assert "too_few_examples" in captured.out
    assert _run(["dataset", "validate", str(out)]) == 1  # validate is the gate


def test_convert_says_which_examples_it_left_out_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "chat.jsonl", tmp_path / "out.jsonl"
    no_reply = {"messages": [{"role": "user", "content": "and then?"}]}
    empty_reply = chat(reply="")
    source.write_bytes(with_line(with_line(chat_file(9), no_reply), empty_reply))
    assert _run(["dataset", "convert", str(source), "-o", str(out)]) == 0
    assert len(out.read_bytes().splitlines()) == 9
    captured = capsys.readouterr()
    assert "(chat, 11 examples)" in captured.out  # what the report counts...
    assert f"Wrote 9 of 11 examples to {out}" in captured.err  # ...and what was written
    assert (
        "Not written (errors, see the report below): line 10 (missing_assistant_message), "
        "line 11 (missing_content)\n"
    ) in captured.err


def test_convert_lists_the_first_lines_left_out_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "chat.jsonl", tmp_path / "out.jsonl"
    broken = chat_file(12)
    for n in range(8):
        broken = with_line(broken, {"messages": [{"role": "user", "content": f"q{n}"}]})
    source.write_bytes(broken)
    assert _run(["dataset", "convert", str(source), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Wrote 12 of 20 examples" in err
    assert "line 17 (missing_assistant_message) and 3 more lines" in err


def test_one_example_is_counted_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "one.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(chat_file(1))
    assert _run(["dataset", "convert", str(source), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"Wrote 1 example to {out}" in captured.err
    assert "Dataset has 1 error (chat, 1 example)" in captured.out
    assert "1 example: fine-tuning needs at least 10" in captured.out
    assert "1 examples" not in captured.out + captured.err
    assert "Not written" not in captured.err  # nothing was left out


def test_convert_has_no_force_option(good: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(["dataset", "convert", str(good), "-o", str(tmp_path / "o.jsonl"), "--force"])
    assert exit_info.value.code == 2


def test_rerun_without_split_removes_the_stale_validation_file(tmp_path: Path) -> None:
    source, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(chat_file(40))
    held = tmp_path / "out.validation.jsonl"
    assert (
        _run(["dataset", "convert", str(source), "-o", str(out), "--validation-split", "0.25"]) == 0
    )
    assert len(held.read_bytes().splitlines()) == 10
    assert _run(["dataset", "convert", str(source), "-o", str(out)]) == 0
    assert not held.exists()
    assert len(out.read_bytes().splitlines()) == 40


def test_both_output_files_get_the_same_permissions(tmp_path: Path) -> None:
    source, out = tmp_path / "data.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(chat_file(40))
    assert (
        _run(["dataset", "convert", str(source), "-o", str(out), "--validation-split", "0.2"]) == 0
    )
    umask = os.umask(0o022)
    os.umask(umask)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (out, tmp_path / "out.validation.jsonl")}
    assert modes == {0o666 & ~umask}


@pytest.mark.parametrize(
    "option",
    [
        ["--format", "foo"],
        ["--epochs", "0"],
        ["--epochs", "51"],
        ["--silence-minutes", "0"],
        ["--silence-minutes", "-5"],
    ],
)
def test_bad_validate_options_are_usage_errors(good: Path, option: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(["dataset", "validate", str(good), *option])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("share", ["1.5", "0", "-0.1", "1", "half"])
def test_bad_validation_split_is_a_usage_error(good: Path, tmp_path: Path, share: str) -> None:
    out = tmp_path / "o.jsonl"
    with pytest.raises(SystemExit) as exit_info:
        _run(["dataset", "convert", str(good), "-o", str(out), "--validation-split", share])
    assert exit_info.value.code == 2
    assert not out.exists()


def test_jsonl_of_blank_lines_says_no_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n\n  \n\r\n")
    assert _run(["dataset", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "no examples" in out
    assert "format" not in out.split("\n", 1)[1]  # not "Could not tell what format"


def test_each_bad_json_line_keeps_its_own_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(chat_file(12) + b'{"a": "x\x01y"}\n{"a": 1 x}\n')
    assert _run(["dataset", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "at at" not in out
    assert "line 13: Not valid JSON (Invalid control character at column 9)" in out
    assert "line 14: Not valid JSON (Expecting ',' delimiter at column 9)" in out


@pytest.mark.parametrize(
    "content", [b"", b"\x00\x01\x02binary", chat_file(12)[:-30], b"\xff\xfe\x00x,y\n"]
)
def test_offline_messages_do_not_speak_of_uploads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    assert _run(["dataset", "validate", str(path)]) == 1
    out = capsys.readouterr().out.lower()
    assert "upload" not in out
    assert "slack" not in out


def test_validate_model_defaults_to_tunebot_base_model(
    good: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNEBOT_BASE_MODEL", "gpt-4.1-mini")
    assert _run(["dataset", "validate", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "gpt-4.1-mini"


def test_tunebot_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tunebot {version('tunebot')}"


def test_cli_module_runs_on_its_own(good: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "admin.datasets.cli", "dataset", "validate", str(good), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["examples"] == 12
