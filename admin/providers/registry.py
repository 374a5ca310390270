"""Provider classes found through the `tunebot.providers` entry points, and the ones on now.

The composition root discovers the installed providers once per start (`Registry.discover`)
and hands the registry down: configuration reads their settings through it, and `Providers`
instantiates the configured ones (only then is a provider's SDK imported).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from admin.errors import TunebotError
from admin.providers.plugin import AnswerPrice, Provider, ProviderContext

log = logging.getLogger(__name__)

GROUP = "tunebot.providers"


class Registry(Mapping[str, type[Provider]]):
    """Every installed provider class by name, on or not; the built-in ones register the same
    way a third-party package does."""

    def __init__(self, classes: Mapping[str, type[Provider]]) -> None:
        self._classes = dict(sorted(classes.items()))

    @classmethod
    def discover(cls) -> Registry:
        found: dict[str, type[Provider]] = {}
        for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
            try:
                loaded = point.load()
            except Exception:
                log.exception("provider %s (%s) could not be loaded", point.name, point.value)
                continue
            if not (isinstance(loaded, type) and issubclass(loaded, Provider)):
                log.error("provider %s is not a Provider subclass; ignored", point.name)
                continue
            if loaded.name in found:
                log.warning("two providers are named %s; keeping the first", loaded.name)
                continue
            found[loaded.name] = loaded
        return cls(found)

    def __getitem__(self, name: str) -> type[Provider]:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    # -- the environment, for the configuration ------------------------------------------------

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """Every provider variable set in `env`, stripped: what configures the providers."""
        found = {}
        for provider in self.values():
            for variable in provider.Settings.variables().values():
                value = (env.get(variable) or "").strip()
                if value:
                    found[variable] = value
        return found

    def bad_settings(self, env: Mapping[str, str]) -> list[str]:
        """One line per provider variable set to a value it cannot take, every one at once."""
        return [line for p in self.values() for line in p.Settings.problems(env)]

    def configured(self, env: Mapping[str, str]) -> list[str]:
        return [name for name, p in self.items() if p.Settings.is_configured(env)]

    def secrets(self, env: Mapping[str, str]) -> list[str]:
        """Every secret provider variable's value: masked in logs, never shown in Slack."""
        return [
            value
            for p in self.values()
            for variable in p.Settings.secret_variables()
            if (value := (env.get(variable) or "").strip())
        ]

    def needs(self, name: str) -> str:
        """The variables that turn `name` on: `FIREWORKS_API_KEY, FIREWORKS_ACCOUNT_ID`."""
        return ", ".join(self[name].Settings.turned_on_by())

    def problems(self, env: Mapping[str, str], *, default: str, base: str | None) -> list[str]:
        """Why the providers in `env` cannot serve: none is on, or the default or base
        provider (TUNEBOT_PROVIDER, TUNEBOT_BASE_PROVIDER) is not; every gap at once."""
        on = self.configured(env)
        if not on:
            # A provider needing two variables (a key and an account) names both together.
            ways = ", ".join(
                " and ".join(p.Settings.turned_on_by()) + f" ({p.label})" for p in self.values()
            )
            return [f"no model provider is configured: set one of {ways}"]
        problems = []
        checks = [("TUNEBOT_PROVIDER", default)]
        if base is not None:
            checks.append(("TUNEBOT_BASE_PROVIDER", base))
        for variable, name in checks:
            if name not in on:
                problems.append(
                    f"{variable} is {name}, which is not configured: set {self.needs(name)} "
                    f"(configured: {', '.join(on)})"
                )
        return problems


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Providers:
    """The providers configured in this deployment; the only way callers reach one."""

    by_name: dict[str, Provider]
    default: str  # new jobs go here unless `provider=` says otherwise
    base: str  # serves TUNEBOT_BASE_MODEL
    registry: Registry  # installed, on or not
    today: Callable[[], date] = _today

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        registry: Registry,
        default: str,
        base: str | None = None,
        today: Callable[[], date] = _today,
        session_factory: Any = None,
        data_dir: Path | None = None,
    ) -> Providers:
        """Instantiate every provider `env` turns on (its settings validated)."""
        context = ProviderContext(today=today, session_factory=session_factory, data_dir=data_dir)
        on: dict[str, Provider] = {}
        for name, provider in registry.items():
            if provider.Settings.is_configured(env):
                on[name] = provider(provider.Settings.from_env(env), context)
        # The default provider first: listings and help lead with where new jobs go.
        ordered = dict(sorted(on.items(), key=lambda item: (item[0] != default, item[0])))
        return cls(ordered, default, base or default, registry, today)

    def __iter__(self) -> Iterator[Provider]:
        return iter(self.by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def names(self) -> list[str]:
        return list(self.by_name)

    def get(self, name: str | None) -> Provider:
        """The configured provider `name` (the default when None); TunebotError if it is off."""
        key = (name or self.default).strip().lower()
        found = self.by_name.get(key)
        if found is not None:
            return found
        if key in self.registry:
            raise TunebotError(
                f"{self.registry[key].label} (`{key}`) is not configured here; an administrator "
                f"sets {self.registry.needs(key)} to turn it on."
            )
        on = ", ".join(f"`{n}`" for n in self.by_name) or "none"
        raise TunebotError(f"There is no provider `{key}`. Configured providers: {on}.")

    def label(self, name: str) -> str:
        found = self.by_name.get(name) or self.registry.get(name)
        return found.label if found is not None else name

    def answer_price(self, provider: str | None, model: str) -> AnswerPrice | None:
        """What answering with `model` at `provider` costs per token, as that provider's class
        declares (installed, on or not); None: price unknown."""
        found = self.registry.get(provider) if provider else None
        return found.answer_price(model) if found is not None else None

    def context_window(self, provider: str, model: str) -> int | None:
        """What `model`'s provider says its context window is; None when it does not say."""
        found = self.by_name.get(provider)
        return found.context_window(model) if found is not None else None
