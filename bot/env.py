"""The environment, read once at the composition root: variables over an optional .env file.

A settings class here is a pydantic-settings model whose fields are variables: a field's
alias is the variable's name, its type, bounds and default say what it takes, its
description is its help. Reading one names every variable set to a value it cannot take in
one line, so a start fails once with the whole list rather than once per mistake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args, get_origin

from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    BeforeValidator,
    SecretStr,
    Strict,
    StringConstraints,
    ValidationError,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsConfigDict

from admin.options import Expects, expected, unwrap
from admin.providers.settings import URL, HandedSettings


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def read_environment(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> dict[str, str]:
    """`environ` (default os.environ) over `env_file` when it exists, values stripped; a
    variable set to nothing is unset, as an empty line of .env.example or a ConfigMap is."""
    values: dict[str, str | None] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update(dotenv_values(env_file))
    values.update(os.environ if environ is None else environ)
    return {name: value.strip() for name, value in values.items() if value and value.strip()}


@dataclass(frozen=True)
class Shown:
    """How an error quotes a bad value, where quoting it whole could print a password."""

    quote: Callable[[str], str]


def _on_off(value: Any) -> Any:
    return {"on": True, "off": False}.get(value.lower(), value) if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


OnOff = Annotated[bool, BeforeValidator(_on_off), Strict(), Expects("one of on, off")]
Lower = BeforeValidator(_lower)  # a choice typed in any case: TUNEBOT_LOG_FORMAT=JSON
Upper = BeforeValidator(_upper)


# -- the kinds of value tunebot's own variables take -------------------------------------------


def _starting(prefix: str) -> AfterValidator:
    def check(value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(prefix):
            raise ValueError(f"starting with {prefix}")
        return value

    return AfterValidator(check)


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _database(url: str) -> str:
    if not url.startswith(("sqlite", "postgresql", "postgres")):
        raise ValueError("not a database tunebot runs on")
    return url


def _words(value: Any) -> Any:
    return [w.strip() for w in value.split(",") if w.strip()] if isinstance(value, str) else value


BotToken = Annotated[SecretStr, _starting("xox"), Expects("a bot token starting with xoxb-")]
AppToken = Annotated[
    SecretStr, _starting("xapp-"), Expects("an app-level token starting with xapp-")
]
UserId = Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,}$")]
Admins = Annotated[
    frozenset[UserId],
    BeforeValidator(_words),
    Expects("comma-separated Slack user IDs like U012AB3CD"),
]
ChannelId = Annotated[
    str, StringConstraints(pattern=r"^[CGD][A-Z0-9]{2,}$"), Expects("a channel ID like C012AB3CD")
]
Channels = Annotated[
    frozenset[ChannelId],
    BeforeValidator(_words),
    Expects("comma-separated channel IDs like C012AB3CD"),
]
# Slack's base URL: requests append the method name to it.
BaseURL = Annotated[URL, AfterValidator(_slash)]
# Only the scheme is quoted back: the rest of a database URL may hold its password.
DatabaseURL = Annotated[
    str,
    AfterValidator(_database),
    Expects("a sqlite:/// or postgresql:// URL"),
    Shown(lambda url: url.split(":", 1)[0] + ":"),
]

_BOUNDS = {
    "greater_than_equal": "at least",
    "greater_than": "above",
    "less_than_equal": "at most",
    "less_than": "below",
}


class EnvSettings(HandedSettings):
    """Settings whose fields name their variables (aliases) and are set by name in code."""

    model_config = SettingsConfigDict(
        allow_inf_nan=False, validate_by_name=True, validate_by_alias=True
    )

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Field name -> environment variable, in declaration order."""
        return {name: field.alias for name, field in cls.model_fields.items() if field.alias}

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
    ) -> Self:
        """The settings `environ` gives over `env_file`; ConfigError naming every bad one."""
        settings, problems = cls.parse(read_environment(environ, env_file))
        if settings is None or problems:
            raise ConfigError("; ".join(problems))
        return settings

    @classmethod
    def parse(cls, env: Mapping[str, str], **given: Any) -> tuple[Self | None, list[str]]:
        """The settings `env` (and the fields `given` by name) make, every variable set to a
        value it cannot take left at its default, and one line for each of those; None when
        a required variable is missing."""
        names = set(cls.variables().values())
        values = {variable: value for variable, value in env.items() if variable in names}
        problems: dict[str, str] = {}
        while True:
            try:
                return cls.model_validate({**values, **given}), list(problems.values())
            except ValidationError as failure:
                found = cls._explain(failure, env)
            for variable, line in found.items():
                problems.setdefault(variable, line)
            if not found.keys() & values.keys():
                return None, list(problems.values())
            values = {name: value for name, value in values.items() if name not in found}

    @classmethod
    def _explain(cls, failure: ValidationError, env: Mapping[str, str]) -> dict[str, str]:
        variables = cls.variables()
        by_variable = {variable: name for name, variable in variables.items()}
        found: dict[str, str] = {}
        for error in failure.errors():
            where = str(error["loc"][0]) if error["loc"] else ""
            name = by_variable.get(where, where)
            variable = variables.get(name, name)
            if name not in cls.model_fields:  # not one variable's fault: said as pydantic says it
                found.setdefault(where, error["msg"])
            elif variable not in found:
                found[variable] = _line(variable, cls.model_fields[name], error, env.get(variable))
        return found

    def with_overrides(self, **changes: Any) -> Self:
        """A copy with `changes` (fields by name), validated as the environment's values are."""
        return self.model_validate({**dict(self), **changes})


def _line(variable: str, field: FieldInfo, error: ErrorDetails, raw: str | None) -> str:
    """`TUNEBOT_POLL_SECONDS must be at least 1, got -5`: what is wrong, in the user's words."""
    if error["type"] == "missing":
        return f"{variable} is required: {field.description}"
    kind, metadata = unwrap(field.annotation, list(field.metadata))
    ctx = error.get("ctx", {})
    bound = _BOUNDS.get(error["type"])
    if bound is not None:
        return f"{variable} must be {bound} {next(iter(ctx.values())):g}, got {raw}"
    if any(isinstance(rule, Expects) for rule in metadata):
        what = expected(field)
    elif get_origin(kind) is Literal:
        what = "one of " + ", ".join(str(choice) for choice in get_args(kind))
    elif error["type"] == "value_error":
        what = str(ctx.get("error", error["msg"]))
    else:
        what = expected(field)
    if kind is SecretStr or raw is None:
        return f"{variable} must be {what}"  # a secret is never repeated, not even a wrong one
    shown = next((rule.quote(raw) for rule in metadata if isinstance(rule, Shown)), repr(raw))
    return f"{variable} must be {what}, got {shown}"
