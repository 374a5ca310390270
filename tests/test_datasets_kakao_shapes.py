"""One conversation exported from any KakaoTalk app, in any language, gives the same examples."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.kakao_shapes import MEDIA_KINDS, SHAPES, Event, Media, Notice, Said
except ImportError:
    from kakao_shapes import (  # type: ignore[no-redef]
        MEDIA_KINDS,
        SHAPES,
        Event,
        Media,
        Notice,
        Said,
    )

from admin.datasets import analyze, detect_format, list_speakers, prepare
from admin.datasets.conversations import ConversationRules, default_system_prompt, to_examples
from admin.datasets.kakao import KakaoMessage

FIXTURES = Path(__file__).parent / "fixtures" / "kakao"
DETECTED = {
    "csv_ko.csv": "kakao_csv",
    "csv_en.csv": "kakao_csv",
    "pc_ko.txt": "kakao_pc",
    "pc_en.txt": "kakao_pc",
    "android_ko.txt": "kakao_android",
    "android_en.txt": "kakao_android",
    "android_en_at.txt": "kakao_android",
    "android_en_2015.txt": "kakao_android",
    "ios_ko.txt": "kakao_ios",
    "ios_ko_24h.txt": "kakao_ios",
    "ios_en.txt": "kakao_ios",
    "ios_en_24h.txt": "kakao_ios",
}
ASSISTANT = "Jun Park"
EXPECTED = [
    [
        ("user", "Are you free tonight?\n저녁 같이 먹자"),
        ("assistant", "Maybe\nLet me check first"),
        ("user", "ok, tell me by 6 : )"),
        ("assistant", "Sure, 7 works.\n\nSee you there"),
    ],
    [
        ("user", "Home yet?"),
        ("assistant", "Just got in\nI left my umbrella at the restaurant"),
        ("user", "Good night"),
        ("assistant", "Night!"),
    ],
    [
        ("user", "Look at this\nIsn't it great?"),
        ("assistant", "Wow, where is that?"),
        ("user", "제주도! 다음에 같이 가자"),
        ("assistant", "좋아\n날짜 정하자"),
    ],
]


def _turns(source: bytes, assistant: str = ASSISTANT) -> list[list[tuple[str, str]]]:
    with prepare(source, assistant=assistant) as prepared:
        examples = [json.loads(line) for line in prepared.read_bytes().splitlines()]
    return [[(m["role"], m["content"]) for m in e["messages"][1:]] for e in examples]


def test_there_is_a_fixture_for_every_shape() -> None:
    on_disk = {p.name for p in FIXTURES.iterdir() if p.suffix in (".txt", ".csv")}
    assert on_disk == set(DETECTED) == {shape.name for shape in SHAPES}


@pytest.mark.parametrize("name", sorted(DETECTED))
def test_the_shape_is_detected(name: str) -> None:
    assert detect_format((FIXTURES / name).read_bytes(), name) == DETECTED[name]


@pytest.mark.parametrize("name", sorted(DETECTED))
def test_every_shape_converts_to_the_same_examples(name: str) -> None:
    # Notices and placeholders dropped without taking a neighbour along, day lines and bare
    # timestamps never glued on, multi-line messages whole, silences split the same way.
    assert _turns((FIXTURES / name).read_bytes()) == EXPECTED


@pytest.mark.parametrize("name", sorted(DETECTED))
def test_every_shape_has_the_same_speakers(name: str) -> None:
    assert list_speakers((FIXTURES / name).read_bytes()) == [("Jun Park", 6), ("민지", 6)]


@pytest.mark.parametrize("name", sorted(DETECTED))
def test_every_shape_reports_what_was_dropped(name: str) -> None:
    report = analyze((FIXTURES / name).read_bytes(), assistant=ASSISTANT)
    assert report.conversion["media_messages"] == 7
    assert report.conversion["system_lines"] >= 4  # 4 notices (and the export's header)
    assert "empty_messages" not in report.conversion


# A generated conversation rendered in every shape. Lines of text come from words that cannot
# spell a timestamp, a notice or a placeholder (those would be ambiguous in the export itself),
# with the characters that matter to a parser: " : ", commas, brackets, quotes, blank lines.
WORDS = (
    "hi", "ok", "저녁", "먹자", "ㅋㅋㅋ", "tell me by 6 : )", "I left my umbrella", "invited",
    "left", "Photo of us", "사진 보여줘", "https://example.com/?q=1&a=b", "3:30", "오후에",
    "Friday?", "[웃음]", "\"quoted\"", "a, b, c", "님", ": )", "2024년", "다음 주",
)  # fmt: skip
LINE = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    st.text(alphabet="abcxyz가나다 ,.?!:'\"", min_size=1, max_size=16).map(str.strip),
)
TEXT = st.lists(LINE, min_size=1, max_size=4).map("\n".join).map(str.strip).filter(bool)
SPEAKERS = ("민지", ASSISTANT, "Sora Kim")
GAPS = (0, 1, 2, 30, 59, 60, 61, 180, 1439, 1441, 2900)  # minutes; the silence limit is 60


@st.composite
def conversations(draw: st.DrawFn) -> list[Event]:
    at = draw(st.datetimes(datetime(2015, 1, 1), datetime(2030, 12, 31))).replace(
        second=0, microsecond=0
    )
    events: list[Event] = []
    for _ in range(draw(st.integers(1, 14))):
        at += timedelta(minutes=draw(st.sampled_from(GAPS)))
        kind = draw(st.sampled_from(("said", "said", "said", "media", "notice")))
        who = draw(st.sampled_from(SPEAKERS))
        if kind == "said":
            events.append(Said(at, who, draw(TEXT)))
        elif kind == "media":
            events.append(Media(at, who, draw(st.sampled_from(MEDIA_KINDS))))
        else:
            invited = draw(st.lists(st.sampled_from(("Sora Kim", "Dan", "수지")), max_size=2))
            events.append(Notice(at, who, tuple(invited)))
    return events


def _expected(events: list[Event]) -> list[list[tuple[str, str]]]:
    """What conversion should give: the said messages alone, through the conversation rules."""
    said = [KakaoMessage(0, e.at, e.speaker, e.text) for e in events if isinstance(e, Said)]
    speakers = {m.speaker for m in said}
    if ASSISTANT not in speakers:
        return []
    prompt = default_system_prompt(ASSISTANT)
    rules = ConversationRules(ASSISTANT, prompt, prefix_names=len(speakers) > 2)
    examples = [e for _, e in to_examples(said, rules, Counter())]
    return [[(m["role"], m["content"]) for m in e["messages"][1:]] for e in examples]


@settings(max_examples=40, deadline=None)
@given(conversations())
def test_a_generated_conversation_converts_alike_in_every_shape(events: list[Event]) -> None:
    expected = _expected(events)
    for shape in SHAPES:
        assert _turns(shape.render(events).encode()) == expected, shape.name
