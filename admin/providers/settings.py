"""A provider's environment variables, declared as a pydantic-settings model.

A field is the variable `env_prefix + NAME` (`api_key` with prefix `OPENAI_` is
OPENAI_API_KEY); its description is the help, `SecretStr` marks a secret (masked in logs,
never shown in Slack), `URL` an http(s) URL. Fields without a default turn the provider on:
it is configured when every one of them is set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import AfterValidator, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from admin.options import Expects, expected, unwrap


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("not an http(s) URL")
    return value


URL = Annotated[
    str, AfterValidator(_http_url), Expects("an http(s) URL such as https://example.com/")
]


class HandedSettings(BaseSettings):
    """Variables as a pydantic-settings model whose one source is what it is handed: tunebot
    reads the environment (and .env) once, at its composition root, and hands the result
    down; never os.environ behind its back. The core settings (bot/config.py) are these too."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    def secrets(self) -> list[str]:
        """Every secret variable's value: masked in logs, never shown in Slack."""
        return [
            value.get_secret_value()
            for value in self.__dict__.values()
            if isinstance(value, SecretStr) and value.get_secret_value()
        ]


class ProviderSettings(HandedSettings):
    @classmethod
    def variables(cls) -> dict[str, str]:
        """Field name -> environment variable, in declaration order."""
        prefix = str(cls.model_config.get("env_prefix") or "")
        return {name: f"{prefix}{name}".upper() for name in cls.model_fields}

    @classmethod
    def turned_on_by(cls) -> list[str]:
        """The variables that must all be set for the provider to be on."""
        fields = cls.model_fields
        return [v for n, v in cls.variables().items() if fields[n].is_required()]

    @classmethod
    def secret_variables(cls) -> list[str]:
        return [v for n, v in cls.variables().items() if _kind(cls.model_fields[n]) is SecretStr]

    @classmethod
    def url_variables(cls) -> list[str]:
        return [v for n, v in cls.variables().items() if _is_url(cls.model_fields[n])]

    @classmethod
    def is_configured(cls, env: Mapping[str, str]) -> bool:
        """Every required variable is set (a provider that requires none is never on)."""
        needed = cls.turned_on_by()
        return bool(needed) and all((env.get(v) or "").strip() for v in needed)

    @classmethod
    def given(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """This provider's variables that are set in `env`, by field name."""
        found = {n: (env.get(v) or "").strip() for n, v in cls.variables().items()}
        return {name: value for name, value in found.items() if value}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """The validated settings; ValueError naming every bad variable when one is."""
        try:
            return cls(**cls.given(env))
        except ValidationError as failure:
            raise ValueError("; ".join(cls._explain(failure, env))) from None

    @classmethod
    def problems(cls, env: Mapping[str, str]) -> list[str]:
        """Every variable of this provider set to a value it cannot take (missing ones aside:
        a provider whose variables are absent is off, not wrong)."""
        try:
            cls(**cls.given(env))
        except ValidationError as failure:
            return cls._explain(failure, env, missing=False)
        return []

    @classmethod
    def _explain(
        cls, failure: ValidationError, env: Mapping[str, str], *, missing: bool = True
    ) -> list[str]:
        variables = cls.variables()
        found = []
        for error in failure.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            variable = variables.get(name, name)
            if error["type"] == "missing":
                if missing:
                    found.append(f"{variable} is required")
                continue
            field = cls.model_fields[name]
            found.append(f"{variable} must be {expected(field)}, got {env.get(variable, '')!r}")
        return found


def secret(value: SecretStr | None) -> str | None:
    """The plain value of an optional secret setting."""
    return value.get_secret_value() if value is not None else None


def _kind(field: FieldInfo) -> Any:
    return unwrap(field.annotation, list(field.metadata))[0]


def _is_url(field: FieldInfo) -> bool:
    rules = unwrap(field.annotation, list(field.metadata))[1]
    return any(isinstance(rule, AfterValidator) and rule.func is _http_url for rule in rules)
