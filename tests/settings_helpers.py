"""The variables tunebot reads, as its settings models declare them and as its docs list them."""

from __future__ import annotations

import re
from pathlib import Path

from admin.providers.registry import Registry
from bot.config import Settings, TrainerSettings

ROOT = Path(__file__).resolve().parent.parent
# .env.example also fills in what compose gives its other services; tunebot reads neither.
NOT_TUNEBOTS = {"POSTGRES_PASSWORD", "HF_TOKEN"}


def declared_variables() -> set[str]:
    """Every variable the core, the trainer and the installed providers declare."""
    models = [Settings, TrainerSettings, *(p.Settings for p in Registry.discover().values())]
    return {variable for model in models for variable in model.variables().values()}


def configuration_table() -> dict[str, str]:
    """README's Configuration table: each variable it lists -> the row's Default cell."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| `")]
    return {name: row[2] for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row[1])}


def example_variables() -> set[str]:
    """Every variable .env.example names, set or commented out."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {m[1] for line in lines if (m := re.match(r"#?\s*([A-Z][A-Z0-9_]*)=", line))}
