"""/finetune grammar: the text after the command -> a Command, or a usage error that says why.

`train` options come from the chosen provider's declarations (`provider=` picks it, the
default provider otherwise), so usage, help and validation never drift from what it takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from admin.options import UsageError, parse_options, positive_int
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
    optional: int = 0  # how many more it may take
    required: tuple[str, ...] = ()  # options it cannot do without
    fields: Fields = field(default_factory=dict)
    # Offered only when a configured provider has this capability.
    capability: str | None = None


def _provider_name(raw: str) -> str:
    if not raw.strip():
        raise ValueError
    return raw.strip().lower()


PROVIDER_FIELD: Fields = {PROVIDER_OPTION_KEY: (_provider_name, "a configured provider's name")}

_CHANNEL_REF = re.compile(r"<#([CG][A-Z0-9]{2,})(?:\|[^>]*)?>|([CG][A-Z0-9]{2,})")


def channel_id(raw: str) -> str:
    """A channel as Slack sends it in a command (`<#C0123|general>`) or its id (`C0123`)."""
    found = _CHANNEL_REF.fullmatch(raw.strip())
    if found is None:
        raise ValueError(raw)
    return found.group(1) or found.group(2)


_CHANNEL_WORDS = "a channel picked with # (Slack sends it as <#C…>), or a channel id"
CHANNEL_FIELD: Fields = {"channel": (channel_id, _CHANNEL_WORDS)}
# `/finetune train … for=#c`: a model trained for one channel, compared and swapped there.
FOR_CHANNEL_KEY = "for"
FOR_FIELD: Fields = {FOR_CHANNEL_KEY: (channel_id, _CHANNEL_WORDS)}

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
        "/finetune train <dataset> [provider=] [for=#channel] [options]",
        "estimate the cost and start a fine-tuning job (options: see below); with `for=`, "
        "the new model is compared with and swapped into that channel only",
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
        "/finetune use <model> [provider=] [channel=#channel]",
        "switch to a model (the provider is looked up when omitted); with `channel=`, in that "
        "channel only",
        positional=1,
        fields=PROVIDER_FIELD | CHANNEL_FIELD,
    ),
    "rollback": Spec(
        "/finetune rollback [channel=#channel]",
        "switch back to the previous model (in that channel only, with `channel=`)",
        fields=CHANNEL_FIELD,
    ),
    "prompt": Spec(
        '/finetune prompt channel=#channel ["<prompt>" | reset]',
        "show, set or remove a channel's own system prompt (others use TUNEBOT_SYSTEM_PROMPT)",
        optional=1,
        fields=CHANNEL_FIELD,
        required=("channel",),
    ),
    "channels": Spec(
        "/finetune channels", "which model and prompt answer in each channel with its own"
    ),
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
    return {**PROVIDER_FIELD, **FOR_FIELD, **fields}


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
    bare, options = parse_options(rest, fields, owner=owner)
    if not spec.positional <= len(bare) <= spec.positional + spec.optional:
        expected = "nothing more" if spec.positional == 0 else f"{spec.positional} value"
        if spec.optional:
            expected = f"at most {spec.positional + spec.optional} value"
        raise UsageError(f"`{name}` takes {expected}.\nUsage: `{usage}`")
    missing = [f"`{key}=`" for key in spec.required if key not in options]
    if missing:
        raise UsageError(f"`{name}` needs {', '.join(missing)}.\nUsage: `{usage}`")
    return Command(name, bare, options)


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
