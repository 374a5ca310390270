"""/finetune grammar: the text after the command -> a Command, or a usage error that says why.

`train` options come from the chosen provider's declarations (`provider=` picks it, the
default provider otherwise), so usage, help and validation never drift from what it takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from admin.options import Expects, Lowercase, Options, UsageError, read_options, split_words
from admin.prompts import MAX_PROMPTS, SEPARATOR
from admin.providers.options import TrainOptions
from admin.providers.plugin import PROVIDER_OPTION_KEY
from admin.providers.registry import Providers


def _day(raw: Any) -> Any:
    return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC) if isinstance(raw, str) else raw


ProviderName = Annotated[
    str | None, Lowercase, Field(min_length=1), Expects("a configured provider's name")
]


class NoOptions(Options):
    pass


class ProviderOption(Options):
    provider: ProviderName = Field(None, description="a configured provider's name")


class FeedbackOptions(Options):
    since: Annotated[datetime | None, BeforeValidator(_day)] = Field(
        None, description="answers from this day on"
    )
    model: str | None = Field(None, description="the model whose answers to use")
    min_votes: int | None = Field(None, ge=1, description="the 👍 an answer needs to be used")


class EvalOptions(ProviderOption):
    against: str | None = Field(None, description="a model to compare the job's model with")


_CHANNEL_REF = re.compile(r"<#([CG][A-Z0-9]{2,})(?:\|[^>]*)?>|([CG][A-Z0-9]{2,})")
_CHANNEL_WORDS = "a channel picked with # (Slack sends it as <#C…>), or a channel id"


def channel_id(raw: str) -> str:
    """A channel as Slack sends it in a command (`<#C0123|general>`) or its id (`C0123`)."""
    found = _CHANNEL_REF.fullmatch(raw.strip())
    if found is None:
        raise ValueError(raw)
    return found.group(1) or found.group(2)


def _channel(raw: Any) -> Any:
    return channel_id(raw) if isinstance(raw, str) else raw


ChannelId = Annotated[str, BeforeValidator(_channel), Expects(_CHANNEL_WORDS)]


class ChannelOption(Options):
    channel: ChannelId | None = Field(None, description="in that channel only")


class UseOptions(ProviderOption, ChannelOption):
    pass


class PromptOptions(Options):
    channel: ChannelId = Field(description="the channel whose prompt it is")


class UsageOptions(Options):
    days: int = Field(30, ge=1, le=366, description="how many days back, 1 to 366")
    by: Annotated[Literal["model", "channel", "user"], Lowercase] = Field(
        "model", description="what to sum by: `model`, `channel` or `user`"
    )


# `/finetune train … for=#c`: a model trained for one channel, compared and swapped there.
FOR_CHANNEL_KEY = "for"


@dataclass(frozen=True)
class Spec:
    usage: str
    summary: str
    positional: int = 0  # how many bare words the subcommand takes
    optional: int = 0  # how many more it may take
    options: type[Options] = NoOptions
    # Its words are free text (quoted), so one holding "=" is not an option.
    free_text: bool = False
    # Offered only when a configured provider has this capability.
    capability: str | None = None


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
        options=UseOptions,
    ),
    "rollback": Spec(
        "/finetune rollback [channel=#channel]",
        "switch back to the previous model (in that channel only, with `channel=`)",
        options=ChannelOption,
    ),
    "prompt": Spec(
        '/finetune prompt channel=#channel ["<prompt>" | reset]',
        "show, set or remove a channel's own system prompt (others use TUNEBOT_SYSTEM_PROMPT)",
        optional=1,
        options=PromptOptions,
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
        options=ProviderOption,
        capability="deployments",
    ),
    "feedback": Spec(
        "/finetune feedback", "ratings of answers per model, corrections, latest answers rated 👎"
    ),
    "feedback dataset": Spec(
        "/finetune feedback dataset [since=YYYY-MM-DD] [model=] [min_votes=]",
        "build datasets from answers rated 👍 and from corrections (plus DPO pairs)",
        options=FeedbackOptions,
    ),
    "eval": Spec(
        "/finetune eval <job> [against=<model>] [provider=]",
        "show the job's evaluation report; with `against=`, compare again now",
        positional=1,
        options=EvalOptions,
    ),
    "promote": Spec("/finetune promote <job>", "make a held-back model live anyway", positional=1),
    "prompts": Spec(
        f'/finetune prompts ["title {SEPARATOR} message" ...]',
        "show the prompts people are offered when they open my DM; with up to "
        f"{MAX_PROMPTS} quoted prompts, set them",
        optional=MAX_PROMPTS,
        free_text=True,
    ),
    "prompts reset": Spec("/finetune prompts reset", "go back to the default prompts"),
    "usage": Spec(
        "/finetune usage [days=30] [by=model|channel|user]",
        "tokens and what they cost per model, channel or person, and the paid deployments' "
        "running cost",
        options=UsageOptions,
    ),
}


@dataclass(frozen=True)
class Command:
    name: str
    args: list[str]
    options: dict[str, Any]  # the options given, validated, by key
    # `train`'s options, validated by the chosen provider's own `Options`.
    train: TrainOptions | None = None


def _capabilities(providers: Providers) -> set[str]:
    return {str(c) for provider in providers for c in provider.capabilities}


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
    bare, pairs = split_words(rest, keyed=not spec.free_text)
    train, usage = None, spec.usage
    if name == "train":
        # `provider=` decides which options the rest of the line may use.
        given = {k: pairs.pop(k) for k in [PROVIDER_OPTION_KEY] if k in pairs}
        for_channel = _for_channel(pairs.pop(FOR_CHANNEL_KEY, None))
        chosen = read_options(given, ProviderOption)
        provider = providers.get(chosen.provider)
        train, usage = provider.read_options(pairs), provider.usage()
        options: dict[str, Any] = chosen.model_dump(exclude_unset=True)
        if for_channel is not None:
            options[FOR_CHANNEL_KEY] = for_channel
    else:
        options = read_options(pairs, spec.options).model_dump(exclude_unset=True)
    most = spec.positional + spec.optional
    if not spec.positional <= len(bare) <= most:
        raise UsageError(f"`{name}` takes {_expected(spec.positional, most)}.\nUsage: `{usage}`")
    return Command(name, bare, options, train)


def _expected(least: int, most: int) -> str:
    if most == 0:
        return "nothing more"
    if least == most:
        return f"{least} value"
    return f"at most {most} values" if least == 0 else f"{least} to {most} values"


def _for_channel(raw: str | None) -> str | None:
    """`for=`, read apart from the provider's options (it is tunebot's, like `provider=`)."""
    if raw is None:
        return None
    try:
        return channel_id(raw)
    except ValueError:
        raise UsageError(f"`{FOR_CHANNEL_KEY}=` expects {_CHANNEL_WORDS}, got `{raw}`.") from None


def help_text(providers: Providers) -> str:
    capabilities = _capabilities(providers)
    lines = ["*tunebot fine-tuning commands* (admins only)"]
    lines += [
        f"• `{spec.usage}`: {spec.summary}"
        for spec in SPECS.values()
        if spec.capability is None or spec.capability in capabilities
    ]
    for provider in providers:
        default = " (default)" if provider.name == providers.default else ""
        lines.append(
            f"\n*`train` options at {provider.label}* (`provider={provider.name}`{default})"
        )
        lines += [f"• {line}" for line in provider.Options.help_lines()]
    return "\n".join(lines)
