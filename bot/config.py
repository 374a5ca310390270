"""Settings: the environment (and an optional .env file) parsed once, at the composition root."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from admin.providers.registry import Registry

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_PROVIDER = "openai"
DEFAULT_BASE_MODEL = "gpt-4o-mini-2024-07-18"
DEFAULT_SYSTEM_PROMPT = (
    "You are tunebot, a helpful assistant for this team. Answer concisely and in the "
    "language of the question."
)
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    # Every provider's variables that are set (aliases resolved): the registry decides from
    # these which providers are on; nothing here names a provider.
    provider_env: Mapping[str, str] = field(default_factory=dict)
    # The installed providers, discovered once where the settings are read and handed down.
    registry: Registry = field(default_factory=Registry.discover, repr=False, compare=False)
    database_url: str = "sqlite:///tunebot.db"
    base_model: str = DEFAULT_BASE_MODEL
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    admins: frozenset[str] = field(default_factory=frozenset)
    notify_channel: str | None = None
    poll_seconds: int = 60
    port: int = 3000
    max_reply_tokens: int = 1024
    history_token_budget: int = 16_000
    # The context window of models whose provider does not state one (TUNEBOT_CONTEXT_WINDOW).
    context_window: int | None = None
    max_dataset_mb: int = 1024
    provider: str = DEFAULT_PROVIDER  # new jobs go here unless `provider=` says otherwise
    base_provider: str | None = None  # serves base_model; None: the default provider
    data_dir: Path | None = None  # the dataset store; None: beside the SQLite file
    confirm_above_usd: float = 5.0
    run_scheduler: bool = True
    web_workers: int = 1
    log_level: str = "INFO"
    log_format: str = "text"
    feedback_dms: bool = False
    feedback_keep_days: int = 90
    # The eval gate: a new model goes live only if it scores on held-out data at least as well
    # as the current one, less `eval_margin` chrF points (TUNEBOT_EVAL=off goes live as before).
    eval_enabled: bool = True
    eval_max_examples: int = 50
    eval_margin: float = 0.0
    judge_model: str | None = None
    # Usage limits: the monthly budget in USD, and what answers once it is spent (provider,
    # model); the channels tunebot answers in (empty: every one); answers per person per day.
    monthly_budget_usd: float | None = None
    budget_fallback: tuple[str, str] | None = None
    channels: frozenset[str] = field(default_factory=frozenset)
    user_daily_limit: int | None = None

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def base_model_provider(self) -> str:
        return self.base_provider or self.provider

    @property
    def dataset_dir(self) -> Path:
        """TUNEBOT_DATA_DIR, else a data/ folder beside the SQLite file (or the working dir)."""
        if self.data_dir is not None:
            return self.data_dir
        if self.database_url.startswith("sqlite:///") and ":memory:" not in self.database_url:
            return Path(self.database_url.removeprefix("sqlite:///")).parent / "data"
        return Path("data")

    def secrets(self) -> list[str]:
        """Every configured token and key: masked in logs, never shown in Slack."""
        tokens = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token]
        return [t for t in tokens if t] + self.registry.secrets(self.provider_env)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | Path | None = ".env",
        registry: Registry | None = None,
    ) -> Settings:
        """Read settings from `environ` (default os.environ) over an optional .env file;
        the providers are discovered here (once) unless `registry` is given."""
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        env = {k: v.strip() for k, v in values.items()}

        def text(name: str) -> str | None:
            return env.get(name) or None

        registry = registry if registry is not None else Registry.discover()
        default_provider, base_provider, provider_env = _providers(env, registry)

        kwargs: dict[str, Any] = {
            "slack_bot_token": text("SLACK_BOT_TOKEN"),
            "slack_signing_secret": text("SLACK_SIGNING_SECRET"),
            "slack_app_token": text("SLACK_APP_TOKEN"),
            "slack_api_url": _url(env, "SLACK_API_URL", DEFAULT_SLACK_API_URL, trailing_slash=True),
            "provider_env": provider_env,
            "registry": registry,
            "database_url": text("DATABASE_URL") or "sqlite:///tunebot.db",
            "base_model": text("TUNEBOT_BASE_MODEL") or DEFAULT_BASE_MODEL,
            "system_prompt": text("TUNEBOT_SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
            "admins": _admins(env.get("TUNEBOT_ADMINS", "")),
            "notify_channel": _channel(env.get("TUNEBOT_NOTIFY_CHANNEL", "")),
            "poll_seconds": _int(env, "TUNEBOT_POLL_SECONDS", 60, minimum=1),
            "port": _int(env, "PORT", 3000, minimum=1, maximum=65535),
            "max_reply_tokens": _int(env, "TUNEBOT_MAX_REPLY_TOKENS", 1024, minimum=16),
            "history_token_budget": _int(env, "TUNEBOT_HISTORY_TOKENS", 16_000, minimum=256),
            "context_window": _int(env, "TUNEBOT_CONTEXT_WINDOW", None, minimum=512),
            "max_dataset_mb": _int(env, "TUNEBOT_MAX_DATASET_MB", 1024, minimum=1),
            "provider": default_provider,
            "base_provider": base_provider,
            "data_dir": Path(text("TUNEBOT_DATA_DIR") or "") if text("TUNEBOT_DATA_DIR") else None,
            "confirm_above_usd": _money(env, "TUNEBOT_CONFIRM_ABOVE_USD", 5.0),
            "run_scheduler": _choice(env, "TUNEBOT_SCHEDULER", ("on", "off"), "on") == "on",
            "web_workers": _int(env, "TUNEBOT_WEB_WORKERS", 1, minimum=1, maximum=32),
            "log_level": _log_level(env.get("TUNEBOT_LOG_LEVEL", "INFO")),
            "log_format": _choice(env, "TUNEBOT_LOG_FORMAT", ("text", "json"), "text"),
            "feedback_dms": _choice(env, "TUNEBOT_FEEDBACK_DMS", ("on", "off"), "off") == "on",
            "feedback_keep_days": _int(env, "TUNEBOT_FEEDBACK_KEEP_DAYS", 90, minimum=1),
            "eval_enabled": _choice(env, "TUNEBOT_EVAL", ("on", "off"), "on") == "on",
            "eval_max_examples": _int(
                env, "TUNEBOT_EVAL_MAX_EXAMPLES", 50, minimum=1, maximum=10_000
            ),
            "eval_margin": _points(env, "TUNEBOT_EVAL_MARGIN", 0.0),
            "judge_model": text("TUNEBOT_JUDGE_MODEL"),
            "monthly_budget_usd": _budget(env, "TUNEBOT_MONTHLY_BUDGET_USD"),
            "budget_fallback": _fallback_model(
                env.get("TUNEBOT_BUDGET_FALLBACK_MODEL", ""),
                registry,
                configured=registry.configured(provider_env),
                base=base_provider or default_provider,
            ),
            "channels": _channels(env.get("TUNEBOT_CHANNELS", "")),
            "user_daily_limit": _int(env, "TUNEBOT_USER_DAILY_LIMIT", None, minimum=1),
        }
        settings = cls(**kwargs)
        if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
            raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        if settings.slack_bot_token and not settings.slack_bot_token.startswith("xox"):
            raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
        if not settings.database_url.startswith(("sqlite", "postgresql", "postgres")):
            raise ConfigError(
                "DATABASE_URL must be a sqlite:/// or postgresql:// URL, "
                f"not {settings.database_url.split(':', 1)[0]}:"
            )
        if settings.web_workers > 1 and settings.socket_mode:
            raise ConfigError(
                "TUNEBOT_WEB_WORKERS must be 1 in Socket Mode: worker processes share an HTTP "
                "port, and Socket Mode receives events over one websocket instead"
            )
        if settings.web_workers > 1 and not (
            hasattr(os, "fork") and hasattr(socket, "SO_REUSEPORT")
        ):
            raise ConfigError(
                "TUNEBOT_WEB_WORKERS above 1 needs fork() and SO_REUSEPORT, which this system "
                "lacks; leave it at 1"
            )
        return settings

    def require_service(self) -> None:
        """`tunebot run` and `scheduler` need Slack and a provider; every gap named at once."""
        problems = self.slack_problems() + self.provider_problems()
        if problems:
            raise ConfigError("; ".join(problems))

    def slack_problems(self) -> list[str]:
        problems = []
        if not self.slack_bot_token:
            problems.append("SLACK_BOT_TOKEN is required: the bot token (xoxb-...) of your app")
        if not self.socket_mode and not self.slack_signing_secret:
            problems.append(
                "SLACK_SIGNING_SECRET is required in HTTP mode: the app's signing secret "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            )
        return problems

    def provider_problems(self) -> list[str]:
        return self.registry.problems(
            self.provider_env, default=self.provider, base=self.base_provider
        )

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _providers(
    env: Mapping[str, str], registry: Registry
) -> tuple[str, str | None, dict[str, str]]:
    """(default provider, base provider, the providers' variables) from the environment;
    ConfigError naming every provider variable set to a value it cannot take."""
    names = tuple(registry)
    found = registry.environment(env)
    on = registry.configured(found)
    fallback = DEFAULT_PROVIDER if DEFAULT_PROVIDER in on or not on else on[0]
    default = _choice(env, "TUNEBOT_PROVIDER", names, fallback)
    base = (
        _choice(env, "TUNEBOT_BASE_PROVIDER", names, default)
        if env.get("TUNEBOT_BASE_PROVIDER")
        else None
    )
    # Round one's variables for "the" fine-tuning backend keep working for the default provider.
    settings = registry[default].Settings
    key = next(iter(set(settings.secret_variables()) & set(settings.turned_on_by())), None)
    url = next(iter(settings.url_variables()), None)
    for alias, target in (("TUNEBOT_FINETUNE_API_KEY", key), ("TUNEBOT_FINETUNE_BASE_URL", url)):
        if target and env.get(alias) and target not in found:
            found[target] = _url(env, alias, None) if target == url else env[alias]
    bad = registry.bad_settings(found)
    if bad:
        raise ConfigError("; ".join(bad))
    return default, base, found


def _int(
    env: Mapping[str, str],
    name: str,
    default: int | None,
    *,
    minimum: int,
    maximum: int | None = None,
) -> int | None:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name} must be at least {minimum}{upper}, got {value}")
    return value


def _url(
    env: Mapping[str, str], name: str, default: str | None, *, trailing_slash: bool = False
) -> Any:
    raw = env.get(name, "")
    if raw == "":
        return default
    if not re.match(r"^https?://[^\s/]+", raw):
        raise ConfigError(
            f"{name} must be an http(s) URL such as https://example.com/, got {raw!r}"
        )
    if trailing_slash and not raw.endswith("/"):
        raw += "/"
    return raw


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip().lower() or default
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _money(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be an amount in USD such as 5 or 12.50, got {raw!r}"
        ) from None
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more, got {raw}")
    return value


def _budget(env: Mapping[str, str], name: str) -> float | None:
    if not env.get(name, "").strip():
        return None
    value = _money(env, name, 0.0)
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0 (unset it for no budget), got {env[name]}")
    return value


def _fallback_model(
    raw: str, registry: Registry, *, configured: list[str], base: str
) -> tuple[str, str] | None:
    """TUNEBOT_BUDGET_FALLBACK_MODEL: `provider:model`, or a model at the base provider (a
    model id may hold colons itself, `ft:gpt-4o-mini:org::id`, so only a provider's name
    before the first one makes it a pair)."""
    raw = raw.strip()
    if not raw:
        return None
    name, sep, model = raw.partition(":")
    if not sep or name.strip().lower() not in registry:
        return base, raw
    name, model = name.strip().lower(), model.strip()
    if not model:
        raise ConfigError(
            f"TUNEBOT_BUDGET_FALLBACK_MODEL must be a model, or provider:model, got {raw!r}"
        )
    if name not in configured:
        raise ConfigError(
            f"TUNEBOT_BUDGET_FALLBACK_MODEL names the {name} provider, which is not configured: "
            f"set {registry.needs(name)}"
        )
    return name, model


def _channels(raw: str) -> frozenset[str]:
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    for channel in ids:
        if not _CHANNEL_ID.match(channel):
            raise ConfigError(
                "TUNEBOT_CHANNELS must be comma-separated channel IDs like C012AB3CD, "
                f"got {channel!r}"
            )
    return frozenset(ids)


def _points(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a number of chrF points such as 0 or 2.5, got {raw!r}"
        ) from None
    if not 0 <= value <= 100:
        raise ConfigError(f"{name} must be between 0 and 100 chrF points, got {raw}")
    return value


def _admins(raw: str) -> frozenset[str]:
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    for user_id in ids:
        if not _USER_ID.match(user_id):
            raise ConfigError(
                "TUNEBOT_ADMINS must be comma-separated Slack user IDs like U012AB3CD, "
                f"got {user_id!r}"
            )
    return frozenset(ids)


def _channel(raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    if not _CHANNEL_ID.match(raw):
        raise ConfigError(
            f"TUNEBOT_NOTIFY_CHANNEL must be a channel ID like C012AB3CD, got {raw!r}"
        )
    return raw


def _log_level(raw: str) -> str:
    level = raw.strip().upper() or "INFO"
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"TUNEBOT_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level
