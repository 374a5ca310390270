"""Streaming JSONL reader: one parsed object per line, every unreadable line reported by number."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from admin.datasets.report import Issue, IssueLog

# One example cannot usefully exceed the training context (65,536 tokens, well under
# 4 MB of text); refusing longer lines keeps a malformed file from filling memory.
MAX_LINE_BYTES = 8 << 20


def read_jsonl(stream: BinaryIO, errors: IssueLog) -> Iterator[tuple[int, bytes, Any]]:
    """(line number, line bytes without its newline, parsed JSON object) per good line."""
    number = 0
    while line := stream.readline(MAX_LINE_BYTES):
        number += 1
        ended = line.endswith(b"\n")
        if not ended and len(line) == MAX_LINE_BYTES:
            _skip_rest_of_line(stream)
            errors.add(Issue("line_too_long", _TOO_LONG, number))
            continue
        body = line.rstrip(b"\r\n")
        if number == 1 and body.startswith(codecs.BOM_UTF8):
            body = body[len(codecs.BOM_UTF8) :]
        if not body.strip():
            errors.add(Issue("blank_line", _BLANK, number))
            continue
        try:
            obj = json.loads(body)
        except UnicodeDecodeError:
            errors.add(Issue("invalid_encoding", _ENCODING, number))
            continue
        except ValueError as exc:
            errors.add(_json_issue(exc, number, ended))
            continue
        if not isinstance(obj, dict):
            errors.add(Issue("not_an_object", _NOT_OBJECT.format(kind=_kind(obj)), number))
            continue
        yield number, body, obj


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while chunk := stream.readline(MAX_LINE_BYTES):
        if chunk.endswith(b"\n"):
            return


def _json_issue(exc: ValueError, number: int, ended: bool) -> Issue:
    if not ended:
        return Issue("truncated_line", _TRUNCATED, number)
    # json's own text can end in "at" ("Invalid control character at"): the column follows.
    detail = str(getattr(exc, "msg", exc)).removesuffix(" at")
    column = getattr(exc, "colno", None)
    where = f" at column {column}" if column else ""
    return Issue("invalid_json", _INVALID.format(detail=detail, where=where), number)


def _kind(obj: Any) -> str:
    if isinstance(obj, list):
        return "a list"
    return "a string" if isinstance(obj, str) else "a number or literal"


_TOO_LONG = f"The line is longer than {MAX_LINE_BYTES >> 20} MB: split it into smaller examples."
_BLANK = "Blank line: remove it (every line must hold one example)."
_ENCODING = "The line is not UTF-8 text: save the file as UTF-8."
_TRUNCATED = "The file ends in the middle of this line: it was cut off while being copied."
_INVALID = "Not valid JSON ({detail}{where}): each line must be one complete JSON object."
_NOT_OBJECT = "The line holds {kind}, not a JSON object with the example's keys."
