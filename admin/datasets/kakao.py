"""KakaoTalk exports (CSV, and PC / Android / iOS .txt, Korean or English) -> speaker messages."""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from admin.datasets.kakao_en import MEDIA_EN, is_day_line, parse_line
from admin.datasets.report import Issue

_AMPM = r"(?:(?P<ampm>오전|오후|AM|PM) ?)?"
PC_MESSAGE = re.compile(
    r"^\[(?P<name>[^\]]*)\] \[(?:(?P<ampm>오전|오후) )?(?P<h>\d{1,2}):(?P<mi>\d{2})"
    r"(?: (?P<ampm2>AM|PM))?\] ?(?P<text>.*)$"
)
PC_DATE = re.compile(r"^-{3,} (?P<y>\d{4})년 (?P<mo>\d{1,2})월 (?P<d>\d{1,2})일 \S* ?-{3,}$")
PC_DATE_EN = re.compile(r"^-{3,} \w+, (?P<mon>\w+) (?P<d>\d{1,2}), (?P<y>\d{4}) -{3,}$")
ANDROID_MESSAGE = re.compile(
    r"^(?P<y>\d{4})년 (?P<mo>\d{1,2})월 (?P<d>\d{1,2})일 "
    + _AMPM
    + r"(?P<h>\d{1,2}):(?P<mi>\d{2}), (?P<rest>.*)$"
)
IOS_MESSAGE = re.compile(
    r"^(?P<y>\d{4})\. (?P<mo>\d{1,2})\. (?P<d>\d{1,2})\.? "
    + _AMPM
    + r"(?P<h>\d{1,2}):(?P<mi>\d{2}), (?P<rest>.*)$"
)
# Day separators of the mobile exports, and the header KakaoTalk writes above every export.
DATE_ONLY = re.compile(
    r"^(\d{4}년 \d{1,2}월 \d{1,2}일 \S+요일|\d{4}\. \d{1,2}\. \d{1,2}\. \S+요일)$"
)
HEADER = re.compile(r"(님과 카카오톡 대화|카카오톡 대화$|^저장한 날짜 ?:|^Date Saved ?:|^Talk_)")
SYSTEM = re.compile(
    r"(님이 들어왔습니다|님이 나갔습니다|초대했습니다|내보냈습니다|님이 입장했습니다|"
    r"님이 퇴장했습니다|채팅방 관리자가|joined this chatroom|left this chatroom|"
    r"invited .+ to the chatroom|has been removed from)\.?$"
)
MEDIA = re.compile(
    r"^(사진|사진 \d+장|이모티콘|\(이모티콘\)|동영상|음성메시지|삭제된 메시지입니다\.?|파일: .*|"
    r"메시지가 삭제되었습니다\.?)$"
)
CSV_HEADER = ("date", "user", "message")
_CSV_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y. %m. %d. %H:%M", "%Y/%m/%d %H:%M")
_MONTH_NAMES = (
    "january february march april may june july august september october november december"
)
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES.split(), 1)}


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
        if PC_MESSAGE.match(line) or PC_DATE.match(line) or PC_DATE_EN.match(line):
            return "kakao_pc"
        if ANDROID_MESSAGE.match(line):
            return "kakao_android"
        if IOS_MESSAGE.match(line):
            return "kakao_ios"
        en = parse_line(line)
        if en is not None and " : " in en.rest and not en.notice:
            if en.platform is not None:
                return en.platform
            english = "kakao_ios"  # only "May" so far: either app; both read the same
    return english


def _clock(h: str, mi: str, ampm: str | None) -> tuple[int, int]:
    hour = int(h) % 12 if ampm else int(h)
    if ampm in ("오후", "PM"):
        hour += 12
    return hour, int(mi)


def _is_dropped(speaker: str, text: str, dropped: Counter[str]) -> bool:
    if not speaker or SYSTEM.search(text) or _is_invite(speaker, text):
        dropped["system_lines"] += 1
        return True
    if MEDIA.match(text.strip()) or MEDIA_EN.match(text.strip()):
        dropped["media_messages"] += 1
        return True
    if not text.strip():
        dropped["empty_messages"] += 1
        return True
    return False


def _is_invite(speaker: str, text: str) -> bool:
    # English exports put notices under the inviter's name: "A","A invited B and C."
    return text.startswith(f"{speaker} invited ") and text.rstrip().endswith(".")


def parse_txt(lines: Iterable[str], variant: str, dropped: Counter[str]) -> Iterator[KakaoMessage]:
    """Messages of a .txt export; lines that continue a message are joined with newlines."""
    day: tuple[int, int, int] | None = None
    pending: KakaoMessage | None = None
    extra: list[str] = []

    def flush() -> Iterator[KakaoMessage]:
        if pending is not None:
            text = "\n".join([pending.text, *extra]).rstrip()
            if not _is_dropped(pending.speaker, text, dropped):
                yield KakaoMessage(pending.line, pending.time, pending.speaker, text)

    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        header = _message_header(line, variant, day)
        if header is not None:
            yield from flush()
            message, is_system = header
            pending, extra = (None if is_system else replace(message, line=number)), []
            dropped["system_lines"] += is_system
            continue
        new_day = _day_line(line)
        if new_day is not None or DATE_ONLY.match(line) or _english_day(line, variant):
            yield from flush()
            pending, extra, day = None, [], new_day or day
            continue
        if pending is None or (variant == "kakao_pc" and SYSTEM.search(line)):
            # The export header, or a PC notice (joins, leaves) that has no timestamp.
            yield from flush()
            pending, extra = None, []
            dropped["system_lines"] += bool(line.strip())
            continue
        extra.append(line)
    yield from flush()


def _english_day(line: str, variant: str) -> bool:
    if variant == "kakao_pc":
        return False
    en = parse_line(line) if line[:1].isalnum() else None
    return is_day_line(line) or (en is not None and not en.rest and not en.notice)


def _day_line(line: str) -> tuple[int, int, int] | None:
    if m := PC_DATE.match(line):
        return int(m["y"]), int(m["mo"]), int(m["d"])
    if (m := PC_DATE_EN.match(line)) and m["mon"].lower() in _MONTHS:
        return int(m["y"]), _MONTHS[m["mon"].lower()], int(m["d"])
    return None


def _message_header(
    line: str, variant: str, day: tuple[int, int, int] | None
) -> tuple[KakaoMessage, bool] | None:
    """(message, is_system) when the line starts a new message or a timestamped notice."""
    if variant == "kakao_pc":
        m = PC_MESSAGE.match(line)
        if not m:
            return None
        hour, minute = _clock(m["h"], m["mi"], m["ampm"] or m["ampm2"])
        when = _stamp(*day, hour, minute) if day else None
        return KakaoMessage(0, when, m["name"].strip(), m["text"]), False
    m = (ANDROID_MESSAGE if variant == "kakao_android" else IOS_MESSAGE).match(line)
    if not m:
        return _english_header(line)
    hour, minute = _clock(m["h"], m["mi"], m["ampm"])
    stamp = _stamp(int(m["y"]), int(m["mo"]), int(m["d"]), hour, minute)
    speaker, sep, text = m["rest"].partition(" : ")
    if not sep:
        return KakaoMessage(0, stamp, "", m["rest"]), True
    return KakaoMessage(0, stamp, speaker.strip(), text), False


def _english_header(line: str) -> tuple[KakaoMessage, bool] | None:
    en = parse_line(line) if line[:1].isalnum() else None
    if en is None or not (en.rest or en.notice):
        return None  # not a timestamp, or a day line
    speaker, sep, text = en.rest.partition(" : ")
    if en.notice or not sep:
        return KakaoMessage(0, en.time, "", en.rest), True
    return KakaoMessage(0, en.time, speaker.strip(), text), False


def _stamp(year: int, month: int, day: int, hour: int, minute: int) -> datetime | None:
    # An impossible date or time just loses its timestamp (no silence split there).
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError:
        return None


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
