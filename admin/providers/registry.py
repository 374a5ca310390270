"""Plugins found through the `tunebot.providers` entry points, and the ones configured now."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from admin.errors import TunebotError
from admin.providers.base import FineTuneProvider
from admin.providers.plugin import ChatEndpoint, ProviderContext, ProviderPlugin

log = logging.getLogger(__name__)

GROUP = "tunebot.providers"


def discover() -> dict[str, ProviderPlugin]:
    """Every installed plugin by name, the built-in ones included (they register the same way).

    Read anew each call: a package installed while tests run is found by the next call.
    """
    found: dict[str, ProviderPlugin] = {}
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        try:
            loaded = point.load()
            plugin = loaded() if isinstance(loaded, type) else loaded
        except Exception:
            log.exception("provider plugin %s (%s) could not be loaded", point.name, point.value)
            continue
        if not isinstance(plugin, ProviderPlugin):
            log.error("provider plugin %s is not a ProviderPlugin; ignored", point.name)
            continue
        if plugin.name in found:
            log.warning("two provider plugins are named %s; keeping the first", plugin.name)
            continue
        found[plugin.name] = plugin
    return found


def provider_variables(plugins: Mapping[str, ProviderPlugin]) -> list[str]:
    return [s.variable for p in plugins.values() for s in p.settings]


def secret_values(plugins: Mapping[str, ProviderPlugin], env: Mapping[str, str]) -> list[str]:
    return [
        value
        for p in plugins.values()
        for s in p.settings
        if s.secret and (value := (env.get(s.variable) or "").strip())
    ]


@dataclass
class Configured:
    """One provider that is on: its declarations, its variables, its gateway, its chat API."""

    plugin: ProviderPlugin
    values: dict[str, str]
    endpoint: ChatEndpoint
    gateway: FineTuneProvider

    @property
    def name(self) -> str:
        return self.plugin.name

    @property
    def label(self) -> str:
        return self.plugin.label


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass
class Providers:
    """The providers configured in this deployment; the only way callers reach one."""

    by_name: dict[str, Configured]
    default: str  # new jobs go here unless `provider=` says otherwise
    base: str  # serves TUNEBOT_BASE_MODEL
    known: dict[str, ProviderPlugin] = field(default_factory=dict)  # installed, on or not
    today: Callable[[], date] = _today

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        default: str,
        base: str | None = None,
        plugins: Mapping[str, ProviderPlugin] | None = None,
        today: Callable[[], date] = _today,
        session_factory: Any = None,
        data_dir: Path | None = None,
    ) -> Providers:
        plugins = dict(plugins if plugins is not None else discover())
        context = ProviderContext(today=today, session_factory=session_factory, data_dir=data_dir)
        on: dict[str, Configured] = {}
        for name, plugin in plugins.items():
            if not plugin.is_configured(env):
                continue
            values = plugin.values(env)
            endpoint = plugin.chat_endpoint(values)
            gateway = plugin.build(values, endpoint=endpoint, context=context)
            on[name] = Configured(plugin, values, endpoint, gateway)
        # The default provider first: listings and help lead with where new jobs go.
        ordered = dict(sorted(on.items(), key=lambda item: (item[0] != default, item[0])))
        return cls(
            by_name=ordered, default=default, base=base or default, known=plugins, today=today
        )

    def __iter__(self) -> Iterator[Configured]:
        return iter(self.by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def names(self) -> list[str]:
        return list(self.by_name)

    def get(self, name: str | None) -> Configured:
        """The configured provider `name` (the default when None); TunebotError if it is off."""
        key = (name or self.default).strip().lower()
        found = self.by_name.get(key)
        if found is not None:
            return found
        if key in self.known:
            plugin = self.known[key]
            needs = ", ".join(s.variable for s in plugin.missing({}))
            raise TunebotError(
                f"{plugin.label} (`{key}`) is not configured here; an administrator sets "
                f"{needs} to turn it on."
            )
        on = ", ".join(f"`{n}`" for n in self.by_name) or "none"
        raise TunebotError(f"There is no provider `{key}`. Configured providers: {on}.")

    def gateway(self, name: str | None) -> FineTuneProvider:
        return self.get(name).gateway

    def label(self, name: str) -> str:
        plugin = self.by_name.get(name) or self.known.get(name)
        return plugin.label if plugin is not None else name
