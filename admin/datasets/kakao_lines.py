"""One line of a KakaoTalk .txt export -> a message's first line, a notice, a day line, or text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from admin.datasets.kakao_en import MONTHS, is_day_line, parse_line, timestamp

# The shapes, from public exports (tests/fixtures/kakao/README.md names them):
#   PC         --------------- 2024년 1월 5일 금요일 ---------------   [Name] [오후 3:12] text
#              --------------- Friday, January 5, 2024 ---------------  [Name] [3:12 PM] text
#              notices alone on a line, read as text here: "A님이 나갔습니다.", "A left."
#   Android    2024년 1월 5일 오후 3:12, Name : text    notice "2024년 1월 5일 오후 3:12, A님이 ..."
#              a timestamp alone ("2024년 1월 5일 오후 3:12") starts a day
#   iOS        2024. 1. 5. 오후 3:12, Name : text (or 15:12)    notice "2024. 1. 5. 오후 3:12: ..."
#              day lines "2024년 1월 5일 금요일" or "2024. 1. 5. 금요일"
#   English mobile apps: see kakao_en.
PC_MESSAGE = re.compile(
    r"^\[(?P<name>[^\]]*)\] \[(?:(?P<ampm>오전|오후) )?(?P<h>\d{1,2}):(?P<mi>\d{2})"
    r"(?: (?P<ampm2>AM|PM))?\] ?(?P<text>.*)$"
)
PC_DAY = re.compile(
    r"^-{3,} (?:(?P<y>\d{4})년 (?P<mo>\d{1,2})월 (?P<d>\d{1,2})일 \S*"
    r"|\w+, (?P<mon>\w+) (?P<d2>\d{1,2}), (?P<y2>\d{4})) ?-{3,}$"
)
_KO_DATE = r"(?P<y>\d{4})(?:년 |\. )(?P<mo>\d{1,2})(?:월 |\. )(?P<d>\d{1,2})(?:일|\.)"
_KO_CLOCK = r"(?:(?P<ampm>오전|오후) ?)?(?P<h>\d{1,2}):(?P<mi>\d{2})"
KO_STAMP = re.compile(r"^" + _KO_DATE + " " + _KO_CLOCK + r"(?P<rest>[,:] .*|,)?$")
KO_WEEKDAY = re.compile(r"^" + _KO_DATE + r" [월화수목금토일]요일$")


class LineKind(StrEnum):
    MESSAGE = "message"  # the first line of a message; the text may go on over the next lines
    NOTICE = "notice"  # a timestamped notice (invited, left...): dropped, ends the message
    DAY = "day"  # a day separator, or a timestamp alone: ends the message before it
    TEXT = "text"  # anything else: the export's header, or a further line of a message


@dataclass(frozen=True, slots=True)
class Line:
    kind: LineKind
    time: datetime | None = None
    speaker: str = ""
    text: str = ""
    day: date | None = None  # PC day lines: the date of the [time] lines that follow
    platform: str | None = None  # kakao_pc / kakao_android / kakao_ios when the line tells


TEXT = Line(LineKind.TEXT)


def classify(line: str, variant: str, day: date | None) -> Line:
    """What `line` is in an export of `variant` (kakao_pc, or a mobile one in either language)."""
    return pc_line(line, day) if variant == "kakao_pc" else mobile_line(line)


def pc_line(line: str, day: date | None) -> Line:
    if m := PC_MESSAGE.match(line):
        hour, minute = clock(m["h"], m["mi"], m["ampm"] or m["ampm2"])
        when = timestamp(day.year, day.month, day.day, hour, minute) if day else None
        return Line(LineKind.MESSAGE, when, m["name"].strip(), m["text"], platform="kakao_pc")
    if m := PC_DAY.match(line):
        return Line(LineKind.DAY, day=_pc_day(m), platform="kakao_pc")
    return TEXT  # PC notices have no timestamp: parse_txt tells them from a message's text


def mobile_line(line: str) -> Line:
    if m := KO_STAMP.match(line):
        platform = "kakao_android" if line[4] == "년" else "kakao_ios"
        hour, minute = clock(m["h"], m["mi"], m["ampm"])
        when = timestamp(int(m["y"]), int(m["mo"]), int(m["d"]), hour, minute)
        rest = m["rest"] or ""
        return _after_stamp(when, rest[2:], rest.startswith(":"), platform)
    if KO_WEEKDAY.match(line) or is_day_line(line):
        return Line(LineKind.DAY)
    en = parse_line(line) if line[:1].isalnum() else None
    if en is None:
        return TEXT
    return _after_stamp(en.time, en.rest, en.notice, en.platform)


def _after_stamp(when: datetime | None, rest: str, colon: bool, platform: str | None) -> Line:
    """The line after its timestamp: "Name : text", a notice, or nothing (a day line)."""
    if not rest.strip():
        return Line(LineKind.DAY, platform=platform)
    speaker, sep, text = rest.partition(" : ")
    if not sep and rest.endswith(" :"):  # the text starts on the next line
        speaker, sep, text = rest[:-2], " :", ""
    if colon or not sep:  # "time: notice" (iOS) or "time, notice" (Android)
        return Line(LineKind.NOTICE, when, platform=platform)
    return Line(LineKind.MESSAGE, when, speaker.strip(), text, platform=platform)


def clock(h: str, mi: str, ampm: str | None) -> tuple[int, int]:
    hour = int(h) % 12 if ampm else int(h)
    if ampm in ("오후", "PM"):
        hour += 12
    return hour, int(mi)


def _pc_day(m: re.Match[str]) -> date | None:
    # An impossible date (a damaged file) leaves the day unknown rather than wrong.
    month = int(m["mo"]) if m["mo"] else MONTHS.get(m["mon"].lower(), 0)
    try:
        return date(int(m["y"] or m["y2"]), month, int(m["d"] or m["d2"]))
    except ValueError:
        return None
