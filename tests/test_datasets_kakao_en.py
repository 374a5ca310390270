"""KakaoTalk .txt exports from the English-language apps (Android and iOS, several versions)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from admin.datasets import detect_format, prepare
from admin.datasets.kakao_en import parse_line


def _turns(source: bytes, **options: object) -> list[list[tuple[str, str]]]:
    with prepare(source, **options) as prepared:  # type: ignore[arg-type]
        examples = [json.loads(line) for line in prepared.read_bytes().splitlines()]
    return [[(m["role"], m["content"]) for m in e["messages"][1:]] for e in examples]


# Whole exports from every English-language app are in test_datasets_kakao_shapes.py.


def test_android_at_shape() -> None:
    text = "KakaoTalk Chats with Minji\nDate Saved : January 6, 2024 at 9:30 AM\n\n"
    text += "January 5, 2024 at 3:12 PM, Minji : hi\nJanuary 5, 2024 at 3:13 PM, Jun : hey\n"
    assert detect_format(text.encode()) == "kakao_android"
    assert _turns(text.encode(), assistant="Jun") == [[("user", "hi"), ("assistant", "hey")]]


def test_ios_24_hour_without_at() -> None:
    text = "Date Saved : Jan 6, 2024 14:55\n\nJan 5, 2024 22:23, Minji : hi\n"
    text += "Jan 5, 2024 22:24, Jun : hey\n"
    assert detect_format(text.encode()) == "kakao_ios"
    assert _turns(text.encode(), assistant="Jun") == [[("user", "hi"), ("assistant", "hey")]]


def test_android_bare_timestamp_line_is_a_day_separator() -> None:
    text = "January 5, 2024, 3:12 PM\nJanuary 5, 2024, 3:12 PM, Minji : hi\n"
    text += "January 5, 2024, 3:13 PM, Jun : hey\n"
    assert _turns(text.encode(), assistant="Jun") == [[("user", "hi"), ("assistant", "hey")]]


@pytest.mark.parametrize(
    ("line", "when"),
    [
        ("Jan 5, 2024, 12:05 AM, A : x", datetime(2024, 1, 5, 0, 5)),
        ("Jan 5, 2024, 12:30 PM, A : x", datetime(2024, 1, 5, 12, 30)),
        ("January 5, 2024, 3:12\u202fp.m., A : x", datetime(2024, 1, 5, 15, 12)),
        ("8:34pm, July 9, 2015, A : x", datetime(2015, 7, 9, 20, 34)),
        ("Feb 1, 2026 at 20:35, A : x", datetime(2026, 2, 1, 20, 35)),
    ],
)
def test_english_timestamps(line: str, when: datetime) -> None:
    parsed = parse_line(line)
    assert parsed is not None
    assert (parsed.time, parsed.rest) == (when, "A : x")


def test_text_that_only_looks_like_a_date_is_not_a_timestamp() -> None:
    assert parse_line("Monday 5, 2024, 3:12 PM, A : x") is None
    assert parse_line("Meeting on June 5, 2024 at 3pm") is None


def test_english_invite_under_the_inviters_name_is_a_notice() -> None:
    text = 'Date,User,Message\n2015-07-09 20:34:26,"A","A invited B and C."\n'
    text += '2015-07-09 20:35:00,"B","hi"\n2015-07-09 20:36:00,"A","(Photo)"\n'
    text += '2015-07-09 20:37:00,"A","hello"\n'
    assert _turns(text.encode(), assistant="A") == [[("user", "hi"), ("assistant", "hello")]]
