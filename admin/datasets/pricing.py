"""Model facts a dataset report needs (training price, training context, default epochs, cost),
and OpenAI's price for answering with its models, base and fine-tuned."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from admin.tokens import DEFAULT_CONTEXT_WINDOW, base_model, context_window

# Training context per example, by base-model prefix (longest prefix first). Inference
# windows are larger; what matters here is what a training example may hold before the
# fine-tuning service truncates it.
_TRAINING_CONTEXT = (
    ("gpt-3.5-turbo-0613", 4_096),
    ("gpt-4o", 65_536),
    ("gpt-4.1", 65_536),
    ("gpt-3.5", 16_385),
    ("gpt-4-0613", 8_192),
    ("davinci-002", 16_384),
    ("babbage-002", 16_384),
)
# Base models that train on prompt/completion pairs instead of chat messages.
LEGACY_MODELS = ("davinci-002", "babbage-002")

# The cookbook's default-epochs rule: aim at 3 epochs, but see at least 100 and at most
# 25,000 examples in total, within 1..25 epochs.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


@dataclass(frozen=True)
class PriceTable:
    as_of: str
    source: str
    per_million: dict[str, float]
    aliases: dict[str, str]


@dataclass(frozen=True)
class Price:
    """The price a cost estimate used, and which table entry it came from."""

    model: str
    per_million_usd: float
    as_of: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "per_1m_training_tokens_usd": self.per_million_usd,
            "as_of": self.as_of,
            "source": self.source,
        }


@dataclass(frozen=True)
class AnsweringRates:
    """USD per 1M input and output tokens for answering with one model, and their origin."""

    input_per_1m: float
    output_per_1m: float
    as_of: str
    source: str


@lru_cache(maxsize=1)
def price_table() -> PriceTable:
    raw = json.loads((resources.files("admin.datasets") / "prices.json").read_text("utf-8"))
    return PriceTable(
        as_of=raw["as_of"],
        source=raw["source"],
        per_million={k: float(v) for k, v in raw["models"].items()},
        aliases=dict(raw["aliases"]),
    )


def snapshot(model: str) -> str:
    """`ft:gpt-4o-mini:org::id` and `gpt-4o-mini` both -> `gpt-4o-mini-2024-07-18`."""
    base = base_model(model.strip())
    return price_table().aliases.get(base, base)


def price_for(model: str) -> Price | None:
    """The training price of a model (fine-tuned ones at their base price); None if unknown."""
    table = price_table()
    name = snapshot(model)
    if name not in table.per_million:
        return None
    return Price(name, table.per_million[name], table.as_of, table.source)


@lru_cache(maxsize=1)
def _answering() -> dict[str, Any]:
    raw = json.loads((resources.files("admin.datasets") / "prices.json").read_text("utf-8"))
    return dict(raw["answering"])


@lru_cache(maxsize=256)
def answering_rates(model: str) -> AnsweringRates | None:
    """What answering with `model` costs at OpenAI: an `ft:` model at the fine-tuned price of
    its base, any other at its snapshot's price; None when the table does not list it."""
    table = _answering()
    kind = "fine_tuned" if model.strip().startswith("ft:") else "base"
    found = table[kind].get(snapshot(model))
    if found is None:
        return None
    return AnsweringRates(
        float(found["input"]), float(found["output"]), table["as_of"], table["source"]
    )


def training_context(model: str) -> int:
    name = snapshot(model).lower()
    for prefix, limit in _TRAINING_CONTEXT:
        if name.startswith(prefix):
            return limit
    return context_window(name) or DEFAULT_CONTEXT_WINDOW


def is_legacy(model: str) -> bool:
    return snapshot(model).lower().startswith(LEGACY_MODELS)


def default_epochs(n_examples: int) -> int:
    """Epochs the fine-tuning service picks when none are given (the cookbook's rule)."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def training_cost(price: Price | None, billed_tokens_per_epoch: int, epochs: int) -> float | None:
    """Price per training token x billed tokens x epochs, in USD (None without a price)."""
    if price is None:
        return None
    return round(price.per_million_usd * billed_tokens_per_epoch * epochs / 1_000_000, 6)
