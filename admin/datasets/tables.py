"""CSV, TSV, XLSX and JSON-array datasets -> prompt/completion pairs (or chat items, for JSON)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from admin.datasets.report import Issue, IssueLog
from admin.datasets.sources import Source

# Header names, compared case-insensitively: the legacy tool's columns, the usual
# question/answer sheets, and the Korean headers admins type.
PROMPT_NAMES = ("prompt", "question", "질문", "input", "instruction", "프롬프트", "user", "q")
COMPLETION_NAMES = ("completion", "answer", "답변", "output", "response", "응답", "assistant", "a")
SYSTEM_NAMES = ("system", "system_prompt", "시스템", "시스템 프롬프트")
Row = tuple[int, dict[str, Any]]


def find_columns(header: list[Any]) -> dict[str, int] | None:
    """Column index of prompt, completion (and system when present), or None."""
    names = [str(h).strip().strip("\ufeff").casefold() if h is not None else "" for h in header]
    found: dict[str, int] = {}
    for role, aliases in (
        ("prompt", PROMPT_NAMES),
        ("completion", COMPLETION_NAMES),
        ("system", SYSTEM_NAMES),
    ):
        for alias in aliases:
            if alias in names:
                found[role] = names.index(alias)
                break
    return found if "prompt" in found and "completion" in found else None


def _no_columns(header: list[Any]) -> Issue:
    shown = ", ".join(repr(str(h))[:30] for h in header[:8] if h is not None) or "nothing"
    return Issue(
        "no_usable_columns",
        f"The header row has {shown}: name one column prompt (or question, 질문) and one "
        "completion (or answer, 답변).",
        1,
    )


def _pairs(rows: Iterable[tuple[int, list[Any]]], errors: IssueLog) -> Iterator[Row]:
    columns: dict[str, int] | None = None
    for number, row in rows:
        if columns is None:
            columns = find_columns(row)
            if columns is None:
                errors.add(_no_columns(row))
                return
            continue
        if not any(cell not in (None, "") for cell in row):
            continue
        pair = {role: _cell(row, i) for role, i in columns.items()}
        if pair.get("system") in (None, ""):
            pair.pop("system", None)
        yield number, pair
    if columns is None:
        errors.add(Issue("empty_file", "The table has no header row and no data.", None))


def _cell(row: list[Any], index: int) -> Any:
    value = row[index] if index < len(row) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def read_delimited(text: Iterable[str], delimiter: str, errors: IssueLog) -> Iterator[Row]:
    """Rows of a CSV/TSV with a header; each row's number is the line it starts on."""
    reader = csv.reader(text, delimiter=delimiter)

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        start = 1
        for row in reader:
            yield start, list(row)
            start = reader.line_num + 1

    yield from _pairs(numbered(), errors)


def read_xlsx(src: Source, errors: IssueLog) -> Iterator[Row]:
    """Rows of the first worksheet; numbers are the sheet's row numbers."""
    from openpyxl import load_workbook  # imported here: only spreadsheets need it

    try:
        book = load_workbook(
            src.path or io.BytesIO(src.data or b""), read_only=True, data_only=True
        )
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        errors.add(Issue("unreadable_xlsx", _XLSX.format(why=type(exc).__name__), None))
        return
    try:
        sheet = book.worksheets[0]
        rows = ((n, list(r)) for n, r in enumerate(sheet.iter_rows(values_only=True), 1))
        yield from _pairs(rows, errors)
    finally:
        book.close()


def read_json_array(text: str, errors: IssueLog) -> Iterator[Row]:
    """Items of a JSON array; an item's number is its 1-based position in the array."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        errors.add(Issue("invalid_json", f"Not valid JSON ({exc}).", line))
        return
    if not isinstance(data, list):
        errors.add(Issue("not_a_list", _NOT_LIST, 1))
        return
    for number, item in enumerate(data, 1):
        if not isinstance(item, dict):
            errors.add(Issue("not_an_object", f"Item {number} is not a JSON object.", number))
            continue
        if "messages" in item or "preferred_output" in item:
            yield number, item
            continue
        columns = find_columns(list(item))
        if columns is None:
            errors.add(Issue("no_usable_columns", _NO_KEYS.format(n=number), number))
            continue
        keys = list(item)
        yield number, {role: _cell([item[k] for k in keys], i) for role, i in columns.items()}


_XLSX = "The file is not a readable .xlsx workbook ({why}): save it again from Excel as .xlsx."
_NOT_LIST = "The JSON is not an array: give a list of objects with prompt and completion."
_NO_KEYS = "Item {n} has no prompt/completion (or question/answer, 질문/답변) keys."
