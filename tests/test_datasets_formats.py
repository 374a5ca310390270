"""Format detection and the non-chat readers: legacy, DPO, CSV/TSV/XLSX/JSON, bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import KAKAO_CSV, chat_file, codes, jsonl
except ImportError:
    from datasets_helpers import KAKAO_CSV, chat_file, codes, jsonl  # type: ignore[no-redef]
from openpyxl import Workbook

from admin.datasets import analyze, detect_format, prepare


def _pairs(n: int = 12) -> list[dict[str, str]]:
    return [
        {"prompt": f"Q{i}: what?\n\n###\n\n", "completion": f" answer {i} END"} for i in range(n)
    ]


def _dpo(n: int = 12) -> list[dict]:
    return [
        {
            "input": {"messages": [{"role": "user", "content": f"Say hi {i}"}]},
            "preferred_output": [{"role": "assistant", "content": f"Hello there, friend {i}!"}],
            "non_preferred_output": [{"role": "assistant", "content": "no"}],
        }
        for i in range(n)
    ]


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_detects_chat_jsonl() -> None:
    assert detect_format(chat_file(2)) == "chat"


def test_detects_prompt_completion_jsonl() -> None:
    assert detect_format(jsonl(_pairs(2))) == "prompt_completion"


def test_detects_dpo_jsonl() -> None:
    assert detect_format(jsonl(_dpo(2))) == "dpo"


def test_detects_dpo_from_a_head_that_cuts_its_first_line() -> None:
    assert detect_format(jsonl(_dpo(1))[:60]) == "dpo"


def test_detects_kakao_csv_with_bom() -> None:
    assert detect_format(b"\xef\xbb\xbf" + KAKAO_CSV.encode()) == "kakao_csv"


def test_detects_plain_csv_and_tsv() -> None:
    assert detect_format(b"prompt,completion\na,b\n") == "csv"
    assert detect_format("질문\t답변\n가\t나\n".encode()) == "tsv"


def test_detects_xlsx_and_json_array() -> None:
    assert detect_format(_xlsx([["prompt", "completion"]])) == "xlsx"
    assert detect_format(b'[{"prompt": "a", "completion": "b"}]') == "json"


def test_legacy_pairs_convert_to_chat_without_separators() -> None:
    prepared = prepare(jsonl(_pairs()), system_prompt="Be brief.")
    first = json.loads(prepared.read_bytes().splitlines()[0])
    prepared.cleanup()
    assert first["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q0: what?"},
        {"role": "assistant", "content": "answer 0"},
    ]


def test_legacy_pairs_stay_pairs_for_davinci() -> None:
    report = analyze(jsonl(_pairs()), model="davinci-002")
    assert report.valid
    assert report.output_format == "prompt_completion"
    assert report.encoding == "cl100k_base"


def test_chat_data_for_a_legacy_model_is_an_error() -> None:
    report = analyze(chat_file(12), model="babbage-002")
    assert "model_needs_prompt_completion" in codes(report.errors)


def test_pair_without_completion() -> None:
    report = analyze(jsonl([*_pairs(), {"prompt": "only a prompt"}]))
    assert "missing_completion" in codes(report.errors)


def test_dpo_file_is_valid() -> None:
    report = analyze(jsonl(_dpo()))
    assert report.valid
    assert report.format == "dpo"


def test_dpo_output_with_two_messages_is_an_error() -> None:
    bad = _dpo(1)[0]
    bad["preferred_output"] = bad["preferred_output"] * 2
    report = analyze(jsonl([*_dpo(), bad]))
    assert "invalid_preferred_output" in codes(report.errors)


def test_dpo_without_input() -> None:
    bad = _dpo(1)[0]
    del bad["input"]
    assert "missing_input" in codes(analyze(jsonl([*_dpo(), bad])).errors)


def test_csv_with_question_answer_headers_in_any_case() -> None:
    rows = "".join(f'"q {i}","a {i}"\n' for i in range(12))
    report = analyze(("Question,ANSWER\n" + rows).encode(), fmt="csv")
    assert report.valid
    assert report.examples == 12


def test_korean_headers_in_tsv() -> None:
    rows = "".join(f"질문 {i}\t답변 {i}\n" for i in range(12))
    report = analyze(("질문\t답변\n" + rows).encode())
    assert report.format == "tsv"
    assert report.valid


def test_csv_in_cp949() -> None:
    rows = "".join(f"질문 {i},답변 {i}\n" for i in range(12))
    report = analyze(("질문,답변\n" + rows).encode("cp949"), fmt="csv")
    assert report.valid


def test_csv_without_usable_columns_names_the_header() -> None:
    report = analyze(b"name,age\nkim,3\n", fmt="csv")
    issue = report.errors.listed[0]
    assert issue.code == "no_usable_columns"
    assert "'name'" in issue.message


def test_csv_row_with_empty_answer_names_the_row() -> None:
    rows = "".join(f"q{i},a{i}\n" for i in range(12))
    report = analyze(("prompt,completion\n" + rows + "q,\n").encode(), fmt="csv")
    issue = next(i for i in report.errors.listed if i.code == "missing_completion")
    assert issue.line == 14


def test_xlsx_with_prompt_completion() -> None:
    data = _xlsx([["Prompt", "Completion"], *[[f"q{i}", i] for i in range(12)]])
    report = analyze(data)
    assert report.format == "xlsx"
    assert report.valid


def test_xlsx_without_usable_columns() -> None:
    report = analyze(_xlsx([["a", "b"], [1, 2]]))
    assert codes(report.errors) == ["no_usable_columns"]


def test_corrupt_xlsx_is_reported() -> None:
    report = analyze(b"PK\x03\x04 not really a zip", fmt="xlsx")
    assert codes(report.errors) == ["unreadable_xlsx"]


def test_json_array_of_pairs() -> None:
    data = json.dumps([{"question": f"q{i}", "answer": f"a{i}"} for i in range(12)]).encode()
    report = analyze(data)
    assert report.format == "json"
    assert report.valid


def test_json_array_with_input_output_keys_is_pairs() -> None:
    data = json.dumps([{"input": f"q{i}", "output": f"a{i}"} for i in range(12)]).encode()
    assert analyze(data).valid


def test_json_that_is_not_an_array() -> None:
    assert codes(analyze(b'{"a": 1}', fmt="json").errors) == ["not_a_list"]


def test_empty_file() -> None:
    assert codes(analyze(b"").errors) == ["empty_file"]


def test_binary_file() -> None:
    report = analyze(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert codes(report.errors) == ["binary_file"]
    assert not report.valid


def test_missing_file_is_a_report_not_an_exception(tmp_path: Path) -> None:
    report = analyze(tmp_path / "nope.jsonl")
    assert codes(report.errors) == ["unreadable"]


def test_jsonl_in_cp949_reports_encoding_per_line() -> None:
    data = chat_file(11) + json.dumps({"messages": "안녕"}, ensure_ascii=False).encode("cp949")
    report = analyze(data + b"\n")
    issue = next(i for i in report.errors.listed if i.code == "invalid_encoding")
    assert issue.line == 12


def test_unknown_format_name() -> None:
    assert codes(analyze(chat_file(12), fmt="parquet").errors) == ["unknown_format"]


def test_undetectable_text() -> None:
    assert codes(analyze(b"just some words").errors) == ["unknown_format"]


def test_path_given_as_str_is_read(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(chat_file(12))
    assert analyze(str(path)).examples == 12
