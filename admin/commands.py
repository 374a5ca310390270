"""/finetune grammar: the text after the command -> a Command, or a usage error that says why.

`train` options come from the chosen provider's declarations (`provider=` picks it, the
default provider otherwise), so usage, help and validation never drift from what it takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from admin.options import UsageError, parse_options, positive_int
from admin.prompts import MAX_PROMPTS, SEPARATOR
from admin.providers.plugin import PROVIDER_OPTION_KEY, ProviderPlugin
from admin.providers.registry import Providers

Fields = dict[str, tuple[Callable[[str], Any], str]]


def _day(raw: str) -> datetime:
    return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)


FEEDBACK_FIELDS: Fields = {
    "since": (_day, "a date such as 2026-11-01"),
    "model": (str, "the model whose answers to use"),
    "min_votes": (positive_int, "the 👍 an answer needs to be used, 1 or more"),
}


@dataclass(frozen=True)
class Spec:
    usage: str
    summary: str
    positional: int = 0  # how many bare words the subcommand takes
    up_to: int | None = None  # at most this many, when it takes a varying number
    fields: Fields = field(default_factory=dict)
    # Its words are free text (quoted), so one holding "=" is not an option.
    free_text: bool = False
    # Offered only when a configured provider has this capability.
    capability: str | None = None


def _provider_name(raw: str) -> str:
    if not raw.strip():
        raise ValueError
    return raw.strip().lower()


PROVIDER_FIELD: Fields = {PROVIDER_OPTION_KEY: (_provider_name, "a configured provider's name")}

SPECS: dict[str, Spec] = {
    "help": Spec("/finetune help", "show this help"),
    "providers": Spec(
        "/finetune providers",
        "the configured providers: new jobs, chat endpoint, what each supports",
    ),
    "upload": Spec(
        "/finetune upload",
        "open a form to add a dataset (or DM me the file; options as key=value in the message)",
    ),
    "datasets": Spec("/finetune datasets", "list stored datasets with their status"),
    "train": Spec(
        "/finetune train <dataset> [provider=] [options]",
        "estimate the cost and start a fine-tuning job (options: see below)",
        positional=1,
    ),
    "jobs": Spec("/finetune jobs", "list recent jobs"),
    "status": Spec("/finetune status <job>", "show one job", positional=1),
    "cancel": Spec("/finetune cancel <job>", "cancel a running job", positional=1),
    "pause": Spec("/finetune pause <job>", "pause a running job", positional=1, capability="pause"),
    "resume": Spec(
        "/finetune resume <job>", "resume a paused job", positional=1, capability="resume"
    ),
    "events": Spec(
        "/finetune events <job>", "show the job's latest events", positional=1, capability="events"
    ),
    "checkpoints": Spec(
        "/finetune checkpoints <job>",
        "list the job's checkpoints",
        positional=1,
        capability="checkpoints",
    ),
    "models": Spec("/finetune models", "list the models tunebot has used and where each is served"),
    "use": Spec(
        "/finetune use <model> [provider=]",
        "switch to a model (the provider is looked up when omitted)",
        positional=1,
        fields=PROVIDER_FIELD,
    ),
    "rollback": Spec("/finetune rollback", "switch back to the previous model"),
    "deploy": Spec(
        "/finetune deploy <job>",
        "approve a trained model's paid deployment",
        positional=1,
        capability="deployments",
    ),
    "undeploy": Spec(
        "/finetune undeploy <model> [provider=]",
        "remove an old model's paid deployment (not the active model or the rollback target)",
        positional=1,
        fields=PROVIDER_FIELD,
        capability="deployments",
    ),
    "feedback": Spec(
        "/finetune feedback", "ratings of answers per model, corrections, latest answers rated 👎"
    ),
    "feedback dataset": Spec(
        "/finetune feedback dataset [since=YYYY-MM-DD] [model=] [min_votes=]",
        "build datasets from answers rated 👍 and from corrections (plus DPO pairs)",
        fields=FEEDBACK_FIELDS,
    ),
    "eval": Spec(
        "/finetune eval <job> [against=<model>] [provider=]",
        "show the job's evaluation report; with `against=`, compare again now",
        positional=1,
        fields={"against": (str, "a model to compare the job's model with"), **PROVIDER_FIELD},
    ),
    "promote": Spec("/finetune promote <job>", "make a held-back model live anyway", positional=1),
    "prompts": Spec(
        f'/finetune prompts ["title {SEPARATOR} message" ...]',
        "show the prompts people are offered when they open my DM; with up to "
        f"{MAX_PROMPTS} quoted prompts, set them",
        up_to=MAX_PROMPTS,
        free_text=True,
    ),
    "prompts reset": Spec("/finetune prompts reset", "go back to the default prompts"),
}


@dataclass(frozen=True)
class Command:
    name: str
    args: list[str]
    options: dict[str, Any]


def _capabilities(providers: Providers) -> set[str]:
    return {str(c) for configured in providers for c in configured.plugin.capabilities}


def train_fields(plugin: ProviderPlugin) -> Fields:
    fields: Fields = {o.key: (o.parse, o.expected()) for o in plugin.train_options}
    return {**PROVIDER_FIELD, **fields}


def parse_command(text: str, providers: Providers) -> Command:
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
        raise UsageError(f"Unknown subcommand `{name}`.\n{help_text(providers)}")
    if spec.capability and spec.capability not in _capabilities(providers):
        raise UsageError(f"No configured fine-tuning provider supports `{name}`.")
    fields, owner, usage = spec.fields, "", spec.usage
    if name == "train":
        # `provider=` decides which options the rest of the line may use.
        _, chosen = parse_options(rest, PROVIDER_FIELD | _anything(rest))
        configured = providers.get(chosen.get(PROVIDER_OPTION_KEY))
        fields, owner = train_fields(configured.plugin), configured.label
        usage = configured.plugin.usage()
    bare, options = parse_options(rest, fields, owner=owner, keyed=not spec.free_text)
    most = spec.positional if spec.up_to is None else spec.up_to
    if not spec.positional <= len(bare) <= most:
        raise UsageError(f"`{name}` takes {_expected(spec.positional, most)}.\nUsage: `{usage}`")
    return Command(name, bare, options)


def _expected(least: int, most: int) -> str:
    if most == 0:
        return "nothing more"
    if least == most:
        return f"{least} value"
    return f"at most {most} values" if least == 0 else f"{least} to {most} values"


def _anything(text: str) -> Fields:
    """Accept every key on a first pass that only looks for `provider=`."""
    keys = {word.partition("=")[0].strip().lower() for word in text.split() if "=" in word}
    return {key: (str, "") for key in keys if key}


def help_text(providers: Providers) -> str:
    capabilities = _capabilities(providers)
    lines = ["*tunebot fine-tuning commands* (admins only)"]
    lines += [
        f"• `{spec.usage}`: {spec.summary}"
        for spec in SPECS.values()
        if spec.capability is None or spec.capability in capabilities
    ]
    for configured in providers:
        default = " (default)" if configured.name == providers.default else ""
        lines.append(
            f"\n*`train` options at {configured.label}* (`provider={configured.name}`{default})"
        )
        lines += [f"• {option.describe()}" for option in configured.plugin.train_options]
    return "\n".join(lines)
