"""One conversation written out as every KakaoTalk export shape the README claims.

The shapes follow the public exports listed in tests/fixtures/kakao/README.md: the same
speakers and texts, with each app's timestamps, day lines, notices and media stand-ins.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

MONTHS = "January February March April May June July August September October November December"
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
KO_WEEKDAYS = "월화수목금토일"


@dataclass(frozen=True)
class Said:
    at: datetime
    speaker: str
    text: str  # may hold newlines: a multi-line message


@dataclass(frozen=True)
class Notice:
    at: datetime
    who: str
    invited: tuple[str, ...] = ()  # empty: `who` left the chat


@dataclass(frozen=True)
class Media:
    at: datetime
    speaker: str
    kind: str  # a key of the shape's placeholders: photo, video, emoticon, file, deleted


Event = Said | Notice | Media

KO_MEDIA = {
    "photo": "사진",
    "video": "동영상",
    "emoticon": "이모티콘",
    "file": "파일: menu.pdf",
    "deleted": "삭제된 메시지입니다.",
}
MEDIA_KINDS = tuple(KO_MEDIA)
EN_MEDIA = {
    "photo": "Photo",
    "video": "Video",
    "emoticon": "Emoticons",
    "file": "File: menu.pdf",
    "deleted": "This message was deleted.",
}


def ko_notice(n: Notice) -> str:
    if not n.invited:
        return f"{n.who}님이 나갔습니다."
    return f"{n.who}님이 {'님과 '.join(n.invited)}님을 초대했습니다."


def en_notice(n: Notice, left: str = "left this chatroom.") -> str:
    if not n.invited:
        return f"{n.who} {left}"
    return f"{n.who} invited {' and '.join(n.invited)}."


def ko_clock(at: datetime) -> str:
    return f"{'오후' if at.hour >= 12 else '오전'} {at.hour % 12 or 12}:{at.minute:02d}"


def en_clock(at: datetime, sep: str = " ") -> str:
    return f"{at.hour % 12 or 12}:{at.minute:02d}{sep}{'PM' if at.hour >= 12 else 'AM'}"


def en_month(at: date) -> str:
    return MONTHS.split()[at.month - 1]


def ko_date(at: date) -> str:
    return f"{at.year}년 {at.month}월 {at.day}일"


def en_weekday_line(at: date) -> str:
    return f"{WEEKDAYS.split()[at.weekday()]}, {en_month(at)} {at.day}, {at.year}"


@dataclass(frozen=True)
class TxtShape:
    """A .txt export: its header, and how it writes a day line, a message and a notice."""

    name: str
    header: tuple[str, ...]
    day_line: Callable[[datetime], str]  # gets the first event of the day
    said: Callable[[datetime, str, str], str]
    notice: Callable[[Notice], str]
    media: dict[str, str]
    blank_before_day: bool = True

    def render(self, events: Sequence[Event]) -> str:
        lines = list(self.header)
        day: date | None = None
        for event in events:
            if event.at.date() != day:
                if day is not None and self.blank_before_day:
                    lines.append("")
                lines.append(self.day_line(event.at))
                day = event.at.date()
            if isinstance(event, Said):
                lines.append(self.said(event.at, event.speaker, event.text))
            elif isinstance(event, Media):
                lines.append(self.said(event.at, event.speaker, self.media[event.kind]))
            else:
                lines.append(self.notice(event))
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CsvShape:
    """PC / Mac `Date,User,Message`: a notice is a row under the name of whoever it is about."""

    name: str
    notice_text: Callable[[Notice], str]
    media: dict[str, str]

    def render(self, events: Sequence[Event]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        out.write("Date,User,Message\n")
        for event in events:
            if isinstance(event, Said):
                speaker, text = event.speaker, event.text
            elif isinstance(event, Media):
                speaker, text = event.speaker, self.media[event.kind]
            else:
                speaker, text = event.who, self.notice_text(event)
            out.write(f"{event.at:%Y-%m-%d %H:%M:%S},")
            writer.writerow([speaker, text])
        return out.getvalue()


Stamp = Callable[[datetime], str]


def _pc(clock: Stamp) -> Callable[[datetime, str, str], str]:
    return lambda at, speaker, text: f"[{speaker}] [{clock(at)}] {text}"


def _mobile(
    name: str,
    header: tuple[str, ...],
    stamp: Stamp,
    notice_sep: str,
    notice: Callable[[Notice], str],
    media: dict[str, str],
    day: Stamp | None = None,
) -> TxtShape:
    """Lines "<stamp>, Name : text" and "<stamp><sep> notice"; a day line is `day` or a stamp."""
    return TxtShape(
        name,
        header,
        day or stamp,
        lambda at, speaker, text: f"{stamp(at)}, {speaker} : {text}",
        lambda n: f"{stamp(n.at)}{notice_sep} {notice(n)}",
        media,
    )


def _ko_header(saved: str, blanks: int = 1) -> tuple[str, ...]:
    return ("민지 님과 카카오톡 대화", f"저장한 날짜 : {saved}", *[""] * blanks)


def _en_header(saved: str, blanks: int = 1) -> tuple[str, ...]:
    return ("KakaoTalk Chats with 민지", f"Date Saved : {saved}", *[""] * blanks)


SHAPES: tuple[TxtShape | CsvShape, ...] = (
    CsvShape("csv_ko.csv", ko_notice, KO_MEDIA | {"photo": "(사진)", "emoticon": "(이모티콘)"}),
    CsvShape("csv_en.csv", en_notice, EN_MEDIA | {"photo": "(Photo)", "emoticon": "(emoticon)"}),
    TxtShape(
        "pc_ko.txt",
        _ko_header("2024-01-07 09:30:00"),
        lambda at: f"--------------- {ko_date(at)} {KO_WEEKDAYS[at.weekday()]}요일 ---------------",
        _pc(ko_clock),
        ko_notice,
        KO_MEDIA,
        blank_before_day=False,
    ),
    TxtShape(
        "pc_en.txt",
        ("민지 with KakaoTalk Chats", "Date Saved : 2024-01-07 09:30:00", ""),
        lambda at: f"--------------- {en_weekday_line(at)} ---------------",
        _pc(en_clock),
        lambda n: en_notice(n, left="left."),
        EN_MEDIA | {"photo": "photo"},
    ),
    _mobile(
        "android_ko.txt",
        _ko_header("2024년 1월 7일 오전 9:30", blanks=2),
        lambda at: f"{ko_date(at)} {ko_clock(at)}",
        ",",
        ko_notice,
        KO_MEDIA | {"photo": "사진 2장"},
    ),
    _mobile(
        "android_en.txt",
        _en_header("January 7, 2024, 9:30 AM", blanks=2),
        lambda at: f"{en_month(at)} {at.day}, {at.year}, {en_clock(at)}",
        ",",
        en_notice,
        EN_MEDIA | {"photo": "<Photo Unread>", "video": "<Video Unread>"},
    ),
    _mobile(
        "android_en_at.txt",
        _en_header("January 7, 2024 at 9:30 AM"),
        lambda at: f"{en_month(at)} {at.day}, {at.year} at {en_clock(at)}",
        ",",
        en_notice,
        EN_MEDIA,
        day=en_weekday_line,
    ),
    _mobile(
        "android_en_2015.txt",
        _en_header("9:30am, January 7, 2024", blanks=2),
        lambda at: f"{en_clock(at, '').lower()}, {en_month(at)} {at.day}, {at.year}",
        ",",
        en_notice,
        EN_MEDIA | {"photo": "<Photo>", "video": "<Video>", "emoticon": "(emoticon)"},
    ),
    _mobile(
        "ios_ko.txt",
        _ko_header("2024. 1. 7. 오전 9:30"),
        lambda at: f"{at.year}. {at.month}. {at.day}. {ko_clock(at)}",
        ":",
        ko_notice,
        KO_MEDIA,
        day=lambda at: f"{at.year}. {at.month}. {at.day}. {KO_WEEKDAYS[at.weekday()]}요일",
    ),
    _mobile(
        "ios_ko_24h.txt",
        _ko_header("2024. 1. 7. 09:30"),
        lambda at: f"{at.year}. {at.month}. {at.day}. {at.hour}:{at.minute:02d}",
        ":",
        ko_notice,
        KO_MEDIA | {"photo": "사진 3장"},
        day=lambda at: f"{ko_date(at)} {KO_WEEKDAYS[at.weekday()]}요일",
    ),
    _mobile(
        "ios_en.txt",
        _en_header("Jan 7, 2024, 9:30 AM"),
        lambda at: f"{en_month(at)[:3]} {at.day}, {at.year}, {en_clock(at)}",
        ":",
        en_notice,
        EN_MEDIA | {"photo": "photo", "deleted": "Deleted message"},
        day=en_weekday_line,
    ),
    _mobile(
        "ios_en_24h.txt",
        ("Talk_2024.1.7 09:30-1.txt", "Date Saved : Jan 7, 2024 at 09:30", ""),
        lambda at: f"{en_month(at)[:3]} {at.day}, {at.year} at {at.hour}:{at.minute:02d}",
        ":",
        en_notice,
        EN_MEDIA | {"photo": "2 photos", "deleted": "This message has been deleted."},
        day=en_weekday_line,
    ),
)
