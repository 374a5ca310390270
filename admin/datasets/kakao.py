"""KakaoTalk exports (CSV, and PC / Android / iOS .txt, Korean or English) -> speaker messages."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime

from admin.datasets.kakao_lines import LineKind, classify, mobile_line, pc_line
from admin.datasets.kakao_notices import is_notice, is_placeholder
from admin.datasets.report import Issue

CSV_HEADER = ("date", "user", "message")
_CSV_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y. %m. %d. %H:%M", "%Y/%m/%d %H:%M")


@dataclass(frozen=True, slots=True)
class KakaoMessage:
    line: int
    time: datetime | None
    speaker: str
    text: str


def sniff_txt(text: str) -> str | None:
    """kakao_pc / kakao_android / kakao_ios from the first lines of a decoded export."""
    english: str | None = None
    for line in text.splitlines()[:400]:
        line = line.rstrip("\r")
        if pc_line(line, None).kind in (LineKind.MESSAGE, LineKind.DAY):
            return "kakao_pc"
        parsed = mobile_line(line)
        if parsed.kind is not LineKind.MESSAGE:
            continue
        if parsed.platform is not None:
            return parsed.platform
        english = "kakao_ios"  # only "May" so far: either app; both read the same
    return english


def parse_txt(lines: Iterable[str], variant: str, dropped: Counter[str]) -> Iterator[KakaoMessage]:
    """Messages of a .txt export; the lines after a message's first are joined with newlines.

    A message ends at the next message, notice, day line or timestamp alone, so none of
    those is ever glued onto it, and dropping one (a notice, a photo) never takes the
    message after it along. PC exports write notices on a line of their own, with no
    timestamp: the ones between a message's text and the next message are dropped.
    """
    day: date | None = None
    pending: KakaoMessage | None = None
    extra: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        parsed = classify(line, variant, day)
        if parsed.kind is LineKind.TEXT and pending is not None:
            extra.append(line)
            continue
        if pending is not None:
            yield from _kept(pending, extra, variant, dropped)
            pending, extra = None, []
        if parsed.kind is LineKind.MESSAGE:
            pending = KakaoMessage(number, parsed.time, parsed.speaker, parsed.text)
        elif parsed.kind is LineKind.DAY:
            day = parsed.day
        elif line.strip():  # a notice, or the export's header above the first message
            dropped["system_lines"] += 1
    if pending is not None:
        yield from _kept(pending, extra, variant, dropped)


def _kept(
    message: KakaoMessage, extra: list[str], variant: str, dropped: Counter[str]
) -> Iterator[KakaoMessage]:
    if variant == "kakao_pc":
        extra = _without_trailing_notices(extra, dropped)
    text = "\n".join([message.text, *extra]).strip()
    if not _is_dropped(message.speaker, text, dropped):
        yield replace(message, text=text)


def _without_trailing_notices(extra: list[str], dropped: Counter[str]) -> list[str]:
    # Only trailing ones: a notice-like line with more of the message after it was typed.
    end = len(extra)
    while end and (not extra[end - 1].strip() or is_notice(extra[end - 1])):
        end -= 1
        dropped["system_lines"] += bool(extra[end].strip())
    return extra[:end]


def _is_dropped(speaker: str, text: str, dropped: Counter[str]) -> bool:
    if not speaker or is_notice(text, speaker):
        dropped["system_lines"] += 1
    elif is_placeholder(text):
        dropped["media_messages"] += 1
    elif not text.strip():
        dropped["empty_messages"] += 1
    else:
        return False
    return True


def is_csv_header(row: list[str]) -> bool:
    return tuple(c.strip().strip("\ufeff").lower() for c in row[:3]) == CSV_HEADER


def parse_csv(
    text_lines: Iterable[str], dropped: Counter[str], issues: list[Issue]
) -> Iterator[KakaoMessage]:
    """Rows of a `Date,User,Message` export; quoted newlines stay inside the message."""
    reader = csv.reader(text_lines)
    start = 1
    for row in reader:
        line, start = start, reader.line_num + 1
        if line == 1:
            if not is_csv_header(row):
                issues.append(Issue("not_kakao_csv", _NOT_KAKAO.format(",".join(row)[:80]), 1))
                return
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 3:
            issues.append(Issue("bad_row", f"Row has {len(row)} of 3 columns; skipped.", line))
            continue
        when = _csv_time(row[0].strip())
        if when is None:
            issues.append(Issue("bad_date", f"Date {row[0][:30]!r} not understood.", line))
        speaker, text = row[1].strip(), ",".join(row[2:]) if len(row) > 3 else row[2]
        if not _is_dropped(speaker, text, dropped):
            yield KakaoMessage(line, when, speaker, text.strip())


_NOT_KAKAO = (
    "The header is {!r}, not KakaoTalk's 'Date,User,Message'. Export the chat again from "
    "KakaoTalk, or use a prompt/completion (or question/answer) CSV with --format csv."
)


def _csv_time(value: str) -> datetime | None:
    for fmt in _CSV_TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None
