"""Token counts, default epochs, prices and cost: the figures an admin decides on."""

from __future__ import annotations

import random

import pytest
import tiktoken

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import chat, chat_file, codes, jsonl
except ImportError:
    from datasets_helpers import chat, chat_file, codes, jsonl  # type: ignore[no-redef]

from admin.datasets import analyze
from admin.datasets.pricing import default_epochs, price_for, training_cost
from admin.tokens import count_messages, count_ordinary_batch, get_encoding


def _by_hand(messages: list[dict], encoding: tiktoken.Encoding) -> int:
    # The cookbook's rule, written out independently of the engine.
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            if isinstance(value, str):
                total += len(encoding.encode(value))
                total += key == "name"
    return total


def test_total_tokens_match_the_cookbook_rule() -> None:
    example = chat("오늘 회의 몇 시예요?", "The meeting starts at 3 PM.")
    example["messages"][1]["name"] = "minsu"
    report = analyze(jsonl([example] + [chat(f"q{i}") for i in range(11)]))
    encoding = get_encoding("o200k_base")
    expected = sum(_by_hand(chat(f"q{i}")["messages"], encoding) for i in range(11))
    expected += _by_hand(example["messages"], encoding)
    assert report.tokens.total == expected


def test_totals_agree_with_admin_tokens_count_messages() -> None:
    example = chat("이름이 뭐예요?", "I'm Tunebot.")
    example["messages"][1]["name"] = "jiwoo"
    example["messages"][2]["weight"] = 1
    report = analyze(jsonl([example] * 12), model="gpt-3.5-turbo")
    assert report.tokens.total == 12 * count_messages(example["messages"], "gpt-3.5-turbo")


def test_weight_is_not_encoded_but_the_message_is_counted() -> None:
    plain, weighted = chat(), chat()
    weighted["messages"][2]["weight"] = 1
    a = analyze(jsonl([plain] * 12)).tokens.total
    b = analyze(jsonl([weighted] * 12)).tokens.total
    assert a == b


def test_assistant_tokens_are_the_replies_content() -> None:
    encoding = get_encoding("o200k_base")
    report = analyze(jsonl([chat(reply="Fine, thank you.")] * 12))
    assert report.tokens.assistant == 12 * len(encoding.encode("Fine, thank you."))


def test_fine_tuned_gpt4o_uses_o200k() -> None:
    report = analyze(chat_file(12), model="ft:gpt-4o-mini-2024-07-18:org:suffix:abc123")
    assert report.encoding == "o200k_base"


def test_gpt35_uses_cl100k() -> None:
    assert analyze(chat_file(12), model="gpt-3.5-turbo-0125").encoding == "cl100k_base"


def test_batch_count_equals_one_by_one_on_tricky_text() -> None:
    rng = random.Random(3)
    alphabet = [
        "a",
        "Z",
        " ",
        "  ",
        "\n",
        "\r\n",
        "\t",
        "1",
        "23",
        "!",
        "'s",
        "한",
        "글",
        "é",
        "🙂",
    ]
    texts = ["".join(rng.choices(alphabet, k=rng.randint(0, 30))) for _ in range(2000)]
    texts += ["<|endoftext|> inside", "", " ", "ends with space "]
    for name in ("o200k_base", "cl100k_base"):
        encoding = get_encoding(name)
        expected = [len(encoding.encode_ordinary(t)) for t in texts]
        assert count_ordinary_batch(encoding, texts) == expected


@pytest.mark.parametrize(
    ("examples", "epochs"),
    [(1, 25), (4, 25), (5, 20), (33, 3), (34, 3), (8333, 3), (8334, 2), (12_500, 2), (25_001, 1)],
)
def test_default_epochs_rule_at_its_boundaries(examples: int, epochs: int) -> None:
    assert default_epochs(examples) == epochs


def test_report_uses_default_epochs_for_its_size() -> None:
    assert analyze(chat_file(12)).epochs == 8


def test_given_epochs_are_used() -> None:
    report = analyze(chat_file(12), epochs=2)
    assert (report.epochs, report.epochs_source) == (2, "given")


def test_epochs_out_of_range_is_an_error() -> None:
    assert "invalid_epochs" in codes(analyze(chat_file(12), epochs=0).errors)


def test_cost_is_price_times_billed_tokens_times_epochs() -> None:
    report = analyze(chat_file(12), epochs=3)
    expected = 3.0 * report.tokens.billed_per_epoch * 3 / 1_000_000
    assert report.estimated_cost_usd == pytest.approx(expected)
    assert report.price is not None
    assert report.price["model"] == "gpt-4o-mini-2024-07-18"


def test_cost_arithmetic() -> None:
    price = price_for("gpt-4o-2024-08-06")
    assert training_cost(price, 1_000_000, 3) == pytest.approx(75.0)
    assert training_cost(None, 1_000_000, 3) is None


@pytest.mark.parametrize(
    ("model", "snapshot", "per_million"),
    [
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 3.0),
        ("gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", 1.5),
        ("ft:gpt-4.1-2025-04-14:org:x:id", "gpt-4.1-2025-04-14", 25.0),
        ("gpt-3.5-turbo", "gpt-3.5-turbo-0125", 8.0),
        ("babbage-002", "babbage-002", 0.4),
    ],
)
def test_price_lookup_resolves_aliases_and_fine_tunes(
    model: str, snapshot: str, per_million: float
) -> None:
    price = price_for(model)
    assert price is not None
    assert (price.model, price.per_million_usd) == (snapshot, per_million)


def test_unknown_model_has_no_cost_and_a_warning() -> None:
    report = analyze(chat_file(12), model="llama-3-8b")
    assert report.estimated_cost_usd is None
    assert "unknown_model" in codes(report.warnings)
    assert report.valid
