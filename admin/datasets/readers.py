"""Any supported format -> a stream of examples (line, raw line, object, kind) for validation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from admin.datasets.conversations import (
    ConversationRules,
    count_speakers,
    default_system_prompt,
    match_speaker,
    to_examples,
)
from admin.datasets.detect import JSONL_FORMATS, KAKAO_TXT
from admin.datasets.jsonl import read_jsonl
from admin.datasets.kakao import KakaoMessage, parse_csv, parse_txt, sniff_txt
from admin.datasets.report import DatasetReport, Issue
from admin.datasets.sources import Progress, Source, open_binary, open_text, read_head
from admin.datasets.sources import sniff_encoding as sniff
from admin.datasets.tables import read_delimited, read_json_array, read_xlsx

# kind: "chat", "dpo" or "pair" (prompt/completion, converted or kept depending on the model)
Example = tuple[int, bytes | None, dict[str, Any], str]
_KIND = {"chat": "chat", "dpo": "dpo", "prompt_completion": "pair"}


@dataclass(frozen=True)
class ReadOptions:
    assistant: str | None = None
    system_prompt: str | None = None
    silence_minutes: int = 60


def read_examples(
    src: Source, fmt: str, options: ReadOptions, report: DatasetReport, progress: Progress | None
) -> Iterator[Example]:
    if fmt in JSONL_FORMATS:
        kind = _KIND[fmt]
        with open_binary(src, progress) as stream:
            for line, raw, obj in read_jsonl(stream, report.errors):
                yield line, raw, obj, kind
        return
    if fmt == "xlsx":
        for line, obj in read_xlsx(src, report.errors):
            yield line, None, obj, "pair"
        return
    encoding = sniff(read_head(src))
    if encoding is None:
        report.error("invalid_encoding", _ENCODING)
        return
    if fmt in ("csv", "tsv"):
        with open_text(src, encoding, progress) as text:
            rows = read_delimited(
                _lines(text, report), "\t" if fmt == "tsv" else ",", report.errors
            )
            for line, obj in rows:
                yield line, None, obj, "pair"
    elif fmt == "json":
        with open_text(src, encoding, progress) as text:
            for line, obj in read_json_array(text.read(), report.errors):
                yield line, None, obj, _json_item_kind(obj)
    else:
        yield from _kakao_examples(src, fmt, encoding, options, report, progress)


def _json_item_kind(item: dict[str, Any]) -> str:
    if "messages" in item:
        return "chat"
    return "dpo" if "preferred_output" in item else "pair"


def _lines(text: Iterable[str], report: DatasetReport) -> Iterator[str]:
    """Lines of a decoded stream; a byte sequence the encoding rejects ends the file."""
    number = 0
    try:
        for number, line in enumerate(text, 1):  # noqa: B007 - number is read after the loop
            yield line
    except UnicodeDecodeError:
        report.error("invalid_encoding", _ENCODING, number + 1)


def _kakao_messages(
    src: Source, fmt: str, encoding: str, report: DatasetReport, progress: Progress | None
) -> Iterator[KakaoMessage]:
    dropped: Counter[str] = Counter()
    issues: list[Issue] = []
    with open_text(src, encoding, progress) as text:
        lines = _lines(text, report)
        if fmt == "kakao_csv":
            yield from parse_csv(lines, dropped, issues)
        else:
            yield from parse_txt(lines, fmt, dropped)
    for issue in issues:
        (report.errors if issue.code == "not_kakao_csv" else report.warnings).add(issue)
    report.conversion.update(dropped)


def _kakao_examples(
    src: Source,
    fmt: str,
    encoding: str,
    options: ReadOptions,
    report: DatasetReport,
    progress: Progress | None,
) -> Iterator[Example]:
    fmt = report.format = _kakao_variant(src, fmt, encoding)
    # First pass: who speaks, so the admin can pick the assistant (and group chats get names).
    scratch = DatasetReport(format=fmt, model=report.model)
    speakers = count_speakers(_kakao_messages(src, fmt, encoding, scratch, None))
    report.speakers = speakers
    if scratch.errors:
        report.errors.extend(scratch.errors.listed)
        return
    if not speakers:
        report.error("no_messages_found", _NO_MESSAGES.format(fmt=fmt))
        return
    listed = ", ".join(f"{name} ({n})" for name, n in speakers[:10])
    if not options.assistant:
        report.error("assistant_required", _PICK.format(speakers=listed))
        return
    assistant = match_speaker(options.assistant, speakers)
    if assistant is None:
        report.error("assistant_not_found", _NOT_FOUND.format(a=options.assistant, s=listed))
        return
    rules = ConversationRules(
        assistant=assistant,
        system_prompt=options.system_prompt or default_system_prompt(assistant),
        silence_minutes=options.silence_minutes,
        prefix_names=len(speakers) > 2,
    )
    stats: Counter[str] = Counter()
    messages = _kakao_messages(src, fmt, encoding, report, progress)
    for line, example in to_examples(messages, rules, stats):
        yield line, None, example, "chat"
    report.conversion.update(stats)


def _kakao_variant(src: Source, fmt: str, encoding: str) -> str:
    """kakao / kakao_txt (as named on the command line) -> the export variant in the file."""
    if fmt in KAKAO_TXT or fmt == "kakao_csv":
        return fmt
    return sniff_txt(read_head(src).decode(encoding, errors="replace")) or "kakao_csv"


def kakao_speakers(src: Source, fmt: str) -> list[tuple[str, int]]:
    """Speakers of a KakaoTalk export with their message counts ([] for anything else)."""
    encoding = sniff(read_head(src))
    if encoding is None:
        return []
    fmt = _kakao_variant(src, fmt, encoding)
    scratch = DatasetReport(format=fmt, model="")
    return count_speakers(_kakao_messages(src, fmt, encoding, scratch, None))


_ENCODING = "The file is neither UTF-8 nor CP949 text: save it as UTF-8 and try again."
_NO_MESSAGES = "No KakaoTalk messages were found in this {fmt} file: is it a chat export?"
_PICK = "Choose whose replies the bot should learn (--assistant NAME). Speakers: {speakers}."
_NOT_FOUND = "{a!r} does not speak in this chat. Speakers: {s}."
