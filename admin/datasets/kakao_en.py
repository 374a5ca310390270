"""KakaoTalk .txt exports from the English-language mobile apps: timestamps, day lines, notices."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# The shapes below come from public exports (tests/fixtures/kakao/README.md names them):
#   Android (current)  January 5, 2024, 3:12 PM, Name : text      and  "... 2024 at 3:12 PM, ..."
#   Android (2015)     8:34pm, July 9, 2015, Name : text          day line "8:34pm, July 9, 2015"
#   iOS                Jan 5, 2024, 3:12 PM, Name : text          notice "Jan 5, 2024, 3:16 PM: ..."
#   iOS (24-hour)      Feb 1, 2026 at 20:35, Name : text          and  "Jul 16, 2020 22:23, ..."
# A line holding only a timestamp, or a weekday date ("Friday, January 5, 2024"), starts a day.

_MONTH = r"(?P<mon>[A-Z][a-z]{2,8})\.?"
_DATE = _MONTH + r" (?P<d>\d{1,2}), (?P<y>\d{4})"
_AMPM = r"(?:[ \u202f\u00a0]?(?P<ampm>[AaPp]\.?[Mm]\.?))?"
_CLOCK = r"(?P<h>\d{1,2}):(?P<mi>\d{2})" + _AMPM
DATE_FIRST = re.compile(r"^" + _DATE + r"(?:, | at | )" + _CLOCK + r"(?P<rest>(?:,|:) .*)?$")
TIME_FIRST = re.compile(r"^" + _CLOCK + r", " + _DATE + r"(?P<rest>, .*)?$")
WEEKDAY = re.compile(r"^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, " + _DATE + r"$", re.IGNORECASE)
_MONTH_NAMES = (
    "january february march april may june july august september october november december"
)
MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES.split(), 1)}
MONTHS.update({name[:3]: number for name, number in list(MONTHS.items())})
MONTHS["sept"] = 9


@dataclass(frozen=True, slots=True)
class EnglishLine:
    """A timestamped line: `rest` is "Name : text", a notice, or "" for a day line."""

    time: datetime | None
    rest: str
    notice: bool  # "Jan 5, 2024, 3:16 PM: X invited Y." (iOS) has no speaker
    platform: str | None  # kakao_android / kakao_ios, None when the line cannot tell


def parse_line(line: str) -> EnglishLine | None:
    """The timestamp and what follows it, or None when the line does not start with one."""
    m = DATE_FIRST.match(line)
    time_first = m is None
    if m is None:
        m = TIME_FIRST.match(line)
    if m is None:
        return None
    month = MONTHS.get(m["mon"].lower())
    if month is None:
        return None
    hour, minute = int(m["h"]), int(m["mi"])
    if m["ampm"]:
        hour = hour % 12 + (12 if m["ampm"][0] in "Pp" else 0)
    when = timestamp(int(m["y"]), month, int(m["d"]), hour, minute)
    rest = m["rest"] or ""
    return EnglishLine(when, rest[2:], rest.startswith(":"), _platform(m["mon"], time_first))


def _platform(month: str, time_first: bool) -> str | None:
    # Android spells months out, iOS abbreviates them; "May" is both.
    if time_first or (len(month) > 3 and month != "Sept"):
        return "kakao_android"
    return None if month == "May" else "kakao_ios"


def is_day_line(line: str) -> bool:
    return bool(WEEKDAY.match(line))


def timestamp(year: int, month: int, day: int, hour: int, minute: int) -> datetime | None:
    # An impossible date or time just loses its timestamp (no silence split there).
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError:
        return None
