"""split= / --validation-split: exactly the share asked for, the same every run, units whole."""

from __future__ import annotations

import json
from array import array

import pytest

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import chat, chat_file, codes, jsonl, kakao_csv_lines
except ImportError:
    from datasets_helpers import (  # type: ignore[no-redef]
        chat,
        chat_file,
        codes,
        jsonl,
        kakao_csv_lines,
    )

from admin.datasets import prepare
from admin.datasets.split import choose_held_out, held_out_count
from admin.datasets.stats import MIN_EXAMPLES


def _sizes(source: bytes, share: float, **options: object) -> tuple[int, int]:
    with prepare(source, validation_split=share, **options) as prepared:  # type: ignore[arg-type]
        held = prepared.validation.examples if prepared.validation else 0
        assert prepared.report.examples == prepared.examples
        return prepared.examples, held


@pytest.mark.parametrize("start", [0, 100, 200, 300])
def test_a_quarter_of_24_examples_is_6_whatever_the_content(start: int) -> None:
    # The bug: each example was assigned by its own hash; 0.25 of 24 held out 2 to 9.
    assert _sizes(chat_file(24, start=start), 0.25) == (18, 6)


@pytest.mark.parametrize(
    ("share", "examples", "held"),
    [(0.1, 100, 10), (0.25, 24, 6), (0.1, 25, 3), (0.01, 20, 1), (0.5, 12, 2), (0.3, 10, 0)],
)
def test_held_out_count_rounds_and_keeps_the_training_minimum(
    share: float, examples: int, held: int
) -> None:
    assert held_out_count(share, examples) == held
    assert examples - held_out_count(share, examples) >= min(examples, MIN_EXAMPLES)


def test_the_same_file_splits_the_same_way() -> None:
    source = chat_file(40)
    with prepare(source, validation_split=0.2) as a, prepare(source, validation_split=0.2) as b:
        assert a.validation is not None and b.validation is not None
        assert a.validation.read_bytes() == b.validation.read_bytes()
        assert a.read_bytes() == b.read_bytes()


def test_training_and_validation_are_disjoint_and_complete() -> None:
    source = chat_file(30)
    with prepare(source, validation_split=0.3) as prepared:
        assert prepared.validation is not None
        train = set(prepared.read_bytes().splitlines())
        held = set(prepared.validation.read_bytes().splitlines())
    assert not train & held
    assert len(train) + len(held) == 30
    assert len(held) == 9


def test_identical_examples_stay_on_one_side() -> None:
    twin = chat("same question", "same answer")
    source = chat_file(20) + jsonl([twin] * 3)
    for share in (0.1, 0.2, 0.3, 0.4):
        with prepare(source, validation_split=share) as prepared:
            assert prepared.validation is not None
            train = prepared.read_bytes().splitlines().count(_line(twin))
            held = prepared.validation.read_bytes().splitlines().count(_line(twin))
            assert (train, held) in ((3, 0), (0, 3))
            assert prepared.validation.examples == held_out_count(share, 23)


def test_kakao_conversations_are_split_whole() -> None:
    # Each conversation of a chat export is one example, so none is cut in two.
    source = kakao_csv_lines(20).encode()
    assert _sizes(source, 0.25, assistant="Csv") == (15, 5)


def test_too_few_examples_hold_nothing_out_and_say_so() -> None:
    with prepare(chat_file(10), validation_split=0.2) as prepared:
        assert prepared.validation is None
        assert prepared.examples == 10
        assert "nothing_held_out" in codes(prepared.report.warnings)
        assert prepared.report.valid


def test_choice_follows_the_seed_not_the_position() -> None:
    units = array("q", range(50))
    first = choose_held_out(units, 0.2, seed="a" * 64)
    assert len(first) == 10
    assert first == choose_held_out(units, 0.2, seed="a" * 64)
    assert first != choose_held_out(units, 0.2, seed="b" * 64)


def _line(example: dict) -> bytes:
    return json.dumps(example, ensure_ascii=False, separators=(",", ":")).encode()
