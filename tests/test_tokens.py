"""Token counting: the right encoding for fine-tunes, offline vocabularies, cookbook arithmetic."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import tiktoken

from admin import tokens


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::AbC123", "o200k_base"),
        ("ft:gpt-4.1-2025-04-14:acme:support:XyZ", "o200k_base"),
        ("ft:gpt-3.5-turbo-0125:acme::1", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("davinci-002", "cl100k_base"),
    ],
)
def test_encoding_follows_the_base_model_of_a_fine_tune(model: str, encoding: str) -> None:
    assert tokens.encoding_name_for(model) == encoding


def test_tiktoken_alone_gets_gpt4o_fine_tunes_wrong() -> None:
    # The reason base_model() exists: tiktoken's prefix table sends ft:gpt-4o... to cl100k.
    assert tiktoken.encoding_name_for_model("ft:gpt-4.1-2025-04-14:acme::1") == "cl100k_base"


def test_vocabulary_is_seeded_offline_with_tiktokens_own_hash(tmp_path: Path) -> None:
    path = tokens.seed_offline_encoding("o200k_base", tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == tokens.ENCODING_SHA256["o200k_base"]
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    assert path.name == hashlib.sha1(url.encode()).hexdigest()


def test_a_corrupted_cached_vocabulary_is_replaced(tmp_path: Path) -> None:
    path = tokens.seed_offline_encoding("cl100k_base", tmp_path)
    path.write_bytes(b"garbage")
    tokens.seed_offline_encoding("cl100k_base", tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == tokens.ENCODING_SHA256["cl100k_base"]


def test_korean_costs_fewer_tokens_on_o200k_than_on_cl100k() -> None:
    text = "안녕하세요, 오늘 회의는 세 시에 시작합니다."
    assert tokens.count_text(text, "gpt-4o") < tokens.count_text(text, "gpt-3.5-turbo")


def test_messages_are_counted_as_the_cookbook_defines() -> None:
    encoding = tokens.get_encoding("o200k_base")
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "name": "minji", "content": "hi"},
        {"role": "assistant", "content": "hello", "weight": 1},
    ]
    expected = 3 + sum(
        3
        + sum(len(encoding.encode(v)) for v in m.values() if isinstance(v, str))
        + (1 if "name" in m else 0)
        for m in messages
    )
    assert tokens.count_messages(messages, "gpt-4o-mini") == expected
