"""/finetune grammar: the text after the command -> a Command, or a usage error that says why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from admin.options import UsageError, parse_options, positive_int


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError
    return value


def _method(raw: str) -> str:
    if raw not in ("supervised", "dpo"):
        raise ValueError
    return raw


def _suffix(raw: str) -> str:
    if not raw or len(raw) > 64:
        raise ValueError
    return raw


def _day(raw: str) -> datetime:
    return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)


FEEDBACK_FIELDS: dict[str, tuple[Callable[[str], Any], str]] = {
    "since": (_day, "a date such as 2026-11-01"),
    "model": (str, "the model whose answers to use"),
    "min_votes": (positive_int, "the 👍 an answer needs to be used, 1 or more"),
}

TRAIN_FIELDS: dict[str, tuple[Callable[[str], Any], str]] = {
    "model": (str, "a base model or one of your `ft:` models"),
    "epochs": (positive_int, "a whole number of epochs, 1 or more"),
    "lr": (_positive_float, "a learning rate multiplier above 0, such as 1.8"),
    "batch": (positive_int, "a batch size, 1 or more"),
    "suffix": (_suffix, "up to 64 characters to put in the model's name"),
    "validation": (str, "a stored dataset such as ds-4"),
    "method": (_method, "`supervised` or `dpo`"),
    "beta": (_positive_float, "a DPO beta above 0, such as 0.1"),
    "seed": (int, "a whole number"),
}


@dataclass(frozen=True)
class Spec:
    usage: str
    summary: str
    positional: int = 0  # how many bare words the subcommand takes
    fields: dict[str, tuple[Callable[[str], Any], str]] = field(default_factory=dict)


SPECS: dict[str, Spec] = {
    "help": Spec("/finetune help", "show this help"),
    "upload": Spec(
        "/finetune upload",
        "open a form to add a dataset (or DM me the file; options as key=value in the message)",
    ),
    "datasets": Spec("/finetune datasets", "list stored datasets with their status"),
    "train": Spec(
        "/finetune train <dataset> [model=] [epochs=] [lr=] [batch=] [suffix=] "
        "[validation=<dataset>] [method=supervised|dpo] [beta=] [seed=]",
        "estimate the cost and start a fine-tuning job",
        positional=1,
        fields=TRAIN_FIELDS,
    ),
    "jobs": Spec("/finetune jobs", "list recent jobs"),
    "status": Spec("/finetune status <job>", "show one job", positional=1),
    "cancel": Spec("/finetune cancel <job>", "cancel a running job", positional=1),
    "pause": Spec("/finetune pause <job>", "pause a running job", positional=1),
    "resume": Spec("/finetune resume <job>", "resume a paused job", positional=1),
    "events": Spec("/finetune events <job>", "show the job's latest events", positional=1),
    "checkpoints": Spec("/finetune checkpoints <job>", "list the job's checkpoints", positional=1),
    "models": Spec("/finetune models", "list the models tunebot has used, active one marked"),
    "use": Spec("/finetune use <model>", "switch to a model tunebot knows", positional=1),
    "rollback": Spec("/finetune rollback", "switch back to the previous model"),
    "feedback": Spec(
        "/finetune feedback", "ratings of answers per model, corrections, latest answers rated 👎"
    ),
    "feedback dataset": Spec(
        "/finetune feedback dataset [since=YYYY-MM-DD] [model=] [min_votes=]",
        "build datasets from answers rated 👍 and from corrections (plus DPO pairs)",
        fields=FEEDBACK_FIELDS,
    ),
}
# Offered only when the configured provider can do them.
CAPABILITY = {
    "pause": "pause",
    "resume": "resume",
    "events": "events",
    "checkpoints": "checkpoints",
}


@dataclass(frozen=True)
class Command:
    name: str
    args: list[str]
    options: dict[str, Any]


def parse_command(text: str, capabilities: frozenset[str] = frozenset(CAPABILITY)) -> Command:
    words = text.strip().split(maxsplit=1)
    if not words:
        return Command("help", [], {})
    name = words[0].lower()
    rest = words[1] if len(words) > 1 else ""
    # Two-word subcommands (`feedback dataset`) are looked up before the one-word ones.
    second = rest.split(maxsplit=1)
    if second and f"{name} {second[0].lower()}" in SPECS:
        name, rest = f"{name} {second[0].lower()}", second[1] if len(second) > 1 else ""
    spec = SPECS.get(name)
    if spec is None:
        raise UsageError(f"Unknown subcommand `{name}`.\n{help_text(capabilities)}")
    if name in CAPABILITY and CAPABILITY[name] not in capabilities:
        raise UsageError(f"The configured fine-tuning provider does not support `{name}`.")
    bare, options = parse_options(rest, spec.fields)
    if len(bare) != spec.positional:
        expected = "nothing more" if spec.positional == 0 else f"{spec.positional} value"
        raise UsageError(f"`{name}` takes {expected}.\nUsage: `{spec.usage}`")
    return Command(name, bare, options)


def help_text(capabilities: frozenset[str] = frozenset(CAPABILITY)) -> str:
    lines = ["*tunebot fine-tuning commands* (admins only)"]
    lines += [
        f"• `{spec.usage}`: {spec.summary}"
        for name, spec in SPECS.items()
        if name not in CAPABILITY or CAPABILITY[name] in capabilities
    ]
    return "\n".join(lines)
