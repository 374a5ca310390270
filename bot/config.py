"""Settings: tunebot's own variables as pydantic-settings models, read once at the composition
root (the trainer reads the part it shares and its own); providers declare theirs."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, InstanceOf, SecretStr, ValidationInfo, field_validator

from admin.options import Expects
from admin.providers.registry import Registry
from admin.providers.settings import URL, secret
from bot.env import (
    Admins,
    AppToken,
    BaseURL,
    BotToken,
    ChannelId,
    Channels,
    ConfigError,
    DatabaseURL,
    EnvSettings,
    Lower,
    OnOff,
    Upper,
    read_environment,
)
from bot.logs import LogFormat

DEFAULT_PROVIDER = "openai"
DEFAULT_SYSTEM_PROMPT = (
    "You are tunebot, a helpful assistant for this team. Answer concisely and in the "
    "language of the question."
)


class StoreSettings(EnvSettings):
    """What every tunebot process reads: where its data lives and how it logs."""

    database_url: DatabaseURL = Field(
        "sqlite:///tunebot.db", alias="DATABASE_URL", repr=False, description="the database"
    )
    data_dir: Path | None = Field(
        None, alias="TUNEBOT_DATA_DIR", description="the dataset store (default: beside SQLite)"
    )
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], Upper] = Field(
        "INFO", alias="TUNEBOT_LOG_LEVEL", description="the lowest level logged"
    )
    log_format: Annotated[LogFormat, Lower] = Field(
        "text", alias="TUNEBOT_LOG_FORMAT", description="text, or json: one object per line"
    )

    @property
    def dataset_dir(self) -> Path:
        """TUNEBOT_DATA_DIR, else a data/ folder beside the SQLite file (or the working dir)."""
        if self.data_dir is not None:
            return self.data_dir
        if self.database_url.startswith("sqlite:///") and ":memory:" not in self.database_url:
            return Path(self.database_url.removeprefix("sqlite:///")).parent / "data"
        return Path("data")


class TrainerSettings(StoreSettings):
    """`tunebot trainer`: the shared part, and where it writes adapters and how it launches."""

    model_dir: Path = Field(
        alias="TUNEBOT_MODEL_DIR",
        description="where `tunebot trainer` writes adapters, for the bot to serve",
    )
    trainer_launch: str | None = Field(
        None,
        alias="TUNEBOT_TRAINER_LAUNCH",
        description="a launcher such as `accelerate launch --num_processes 4`",
    )


class Settings(StoreSettings):
    """The bot's and the scheduler's settings, handed down from the composition root."""

    slack_bot_token: BotToken | None = Field(
        None, alias="SLACK_BOT_TOKEN", description="the bot token (xoxb-...) of your app"
    )
    slack_signing_secret: SecretStr | None = Field(
        None, alias="SLACK_SIGNING_SECRET", description="verifies requests come from Slack"
    )
    slack_app_token: AppToken | None = Field(
        None, alias="SLACK_APP_TOKEN", description="an app-level token: Socket Mode"
    )
    slack_api_url: BaseURL = Field(
        "https://slack.com/api/", alias="SLACK_API_URL", description="the Slack Web API"
    )
    # The installed providers, discovered once where the settings are read and handed down.
    registry: InstanceOf[Registry] = Field(
        default_factory=Registry.discover, repr=False, exclude=True
    )
    # Every provider's variables that are set (round one's names resolved): the registry
    # decides from these which providers are on; nothing here names a provider.
    provider_env: Mapping[str, str] = Field(default_factory=dict, repr=False)
    provider: Annotated[str, Lower] = Field(
        DEFAULT_PROVIDER, alias="TUNEBOT_PROVIDER", description="where new jobs go"
    )
    base_provider: Annotated[str, Lower] | None = Field(
        None, alias="TUNEBOT_BASE_PROVIDER", description="serves the base model"
    )
    finetune_api_key: SecretStr | None = Field(
        None, alias="TUNEBOT_FINETUNE_API_KEY", description="round 1: the default's key"
    )
    finetune_base_url: URL | None = Field(
        None, alias="TUNEBOT_FINETUNE_BASE_URL", description="round 1: the default's URL"
    )
    base_model: str = Field(
        "gpt-4o-mini-2024-07-18", alias="TUNEBOT_BASE_MODEL", description="while none is tuned"
    )
    system_prompt: str = Field(
        DEFAULT_SYSTEM_PROMPT, alias="TUNEBOT_SYSTEM_PROMPT", description="sent first, always"
    )
    admins: Admins = Field(frozenset(), alias="TUNEBOT_ADMINS", description="who may fine-tune")
    notify_channel: ChannelId | None = Field(
        None, alias="TUNEBOT_NOTIFY_CHANNEL", description="where jobs are announced"
    )
    poll_seconds: int = Field(60, ge=1, alias="TUNEBOT_POLL_SECONDS", description="job polling")
    port: int = Field(3000, ge=1, le=65535, alias="PORT", description="the HTTP port")
    max_reply_tokens: int = Field(
        1024, ge=16, alias="TUNEBOT_MAX_REPLY_TOKENS", description="the longest reply"
    )
    history_token_budget: int = Field(
        16_000, ge=256, alias="TUNEBOT_HISTORY_TOKENS", description="thread history sent"
    )
    context_window: int | None = Field(
        None, ge=512, alias="TUNEBOT_CONTEXT_WINDOW", description="where a provider says none"
    )
    max_dataset_mb: int = Field(
        1024, ge=1, alias="TUNEBOT_MAX_DATASET_MB", description="the largest dataset file"
    )
    confirm_above_usd: Annotated[float, Expects("an amount in USD such as 5 or 12.50")] = Field(
        5.0, ge=0, alias="TUNEBOT_CONFIRM_ABOVE_USD", description="jobs above ask first"
    )
    run_scheduler: OnOff = Field(True, alias="TUNEBOT_SCHEDULER", description="poll jobs here")
    web_workers: int = Field(
        1, ge=1, le=32, alias="TUNEBOT_WEB_WORKERS", description="processes on the port"
    )
    feedback_dms: OnOff = Field(
        False, alias="TUNEBOT_FEEDBACK_DMS", description="keep DM answers' texts"
    )
    feedback_keep_days: int = Field(
        90, ge=1, alias="TUNEBOT_FEEDBACK_KEEP_DAYS", description="how long rated texts stay"
    )
    # The eval gate: a new model goes live only if it scores on held-out data at least as well
    # as the current one, less `eval_margin` chrF points (TUNEBOT_EVAL=off goes live as before).
    eval_enabled: OnOff = Field(True, alias="TUNEBOT_EVAL", description="the eval gate")
    eval_max_examples: int = Field(
        50, ge=1, le=10_000, alias="TUNEBOT_EVAL_MAX_EXAMPLES", description="held-out examples"
    )
    eval_margin: Annotated[float, Expects("a number of chrF points such as 0 or 2.5")] = Field(
        0.0, ge=0, le=100, alias="TUNEBOT_EVAL_MARGIN", description="how far below may go live"
    )
    judge_model: str | None = Field(
        None, alias="TUNEBOT_JUDGE_MODEL", description="also judges each pair of answers"
    )
    # Usage limits (the README's "Usage, budget and limits").
    monthly_budget_usd: Annotated[float, Expects("an amount in USD such as 50 or 12.50")] | None = (
        Field(None, gt=0, alias="TUNEBOT_MONTHLY_BUDGET_USD", description="a month's spend")
    )
    # (provider, model) that answers once the budget is spent: `provider:model`, or a model at
    # the base model's provider.
    budget_fallback: tuple[str, str] | None = Field(
        None, alias="TUNEBOT_BUDGET_FALLBACK_MODEL", description="answers past the budget"
    )
    channels: Channels = Field(
        frozenset(), alias="TUNEBOT_CHANNELS", description="where it answers (empty: anywhere)"
    )
    user_daily_limit: int | None = Field(
        None, ge=1, alias="TUNEBOT_USER_DAILY_LIMIT", description="answers per person per day"
    )

    @field_validator("provider", "base_provider")
    @classmethod
    def _installed(cls, name: str | None, info: ValidationInfo) -> str | None:
        installed = info.data.get("registry") or {}
        if name is not None and name not in installed:
            raise ValueError(f"one of {', '.join(installed)}")
        return name

    @field_validator("web_workers")
    @classmethod
    def _one_port(cls, workers: int, info: ValidationInfo) -> int:
        if workers > 1 and info.data.get("slack_app_token"):
            raise ValueError("1 in Socket Mode, which gets events over one websocket, not a port")
        if workers > 1 and not (hasattr(os, "fork") and hasattr(socket, "SO_REUSEPORT")):
            raise ValueError("1 on this system, which lacks fork() and SO_REUSEPORT")
        return workers

    @field_validator("budget_fallback", mode="before")
    @classmethod
    def _fallback(cls, raw: Any, info: ValidationInfo) -> Any:
        """A model id may hold colons itself (`ft:gpt-4o-mini:org::id`): only a provider's
        name before the first one makes `raw` a (provider, model) pair."""
        if not isinstance(raw, str):
            return raw
        registry: Registry | None = info.data.get("registry")
        name, sep, model = raw.strip().partition(":")
        if registry is None or not sep or name.lower() not in registry:
            base = info.data.get("base_provider") or info.data.get("provider") or DEFAULT_PROVIDER
            return (base, raw.strip())
        on = registry.configured(info.data.get("provider_env") or {})
        if not model.strip() or name.lower() not in on:
            raise ValueError(
                f"a model, or provider:model at a configured provider ({name.lower()} is not "
                f"configured: set {registry.needs(name.lower())})"
            )
        return (name.lower(), model.strip())

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def base_model_provider(self) -> str:
        return self.base_provider or self.provider

    def secrets(self) -> list[str]:
        """Every configured token and key, the providers' too."""
        return super().secrets() + self.registry.secrets(self.provider_env)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | Path | None = ".env",
        registry: Registry | None = None,
        service: bool = False,
    ) -> Self:
        """Read `environ` (default os.environ) over an optional .env file; the providers are
        discovered here (once) unless `registry` is given. With `service` (`tunebot run`,
        `scheduler`), Slack and a provider are required. ConfigError names every variable
        missing or set to a value it cannot take, core and providers' alike, at once."""
        env = read_environment(environ, env_file)
        registry = registry if registry is not None else Registry.discover()
        found = registry.environment(env)
        on = registry.configured(found)
        given: dict[str, Any] = {"registry": registry, "provider_env": found}
        if not env.get(cls.variables()["provider"]):
            given["provider"] = DEFAULT_PROVIDER if DEFAULT_PROVIDER in on or not on else on[0]
        settings, problems = cls.parse(env, **given)
        assert settings is not None  # nothing in Settings is required by itself
        settings = settings.model_copy(update={"provider_env": settings._round_one(found)})
        problems += registry.bad_settings(settings.provider_env)
        if service:
            named = {line.split(" ", 1)[0] for line in problems}
            problems += [p for p in settings._service_gaps() if p.split(" ", 1)[0] not in named]
        if problems:
            raise ConfigError("; ".join(problems))
        return settings

    def _round_one(self, found: Mapping[str, str]) -> dict[str, str]:
        """Round one's variables for "the" fine-tuning backend, for the default provider."""
        declared = self.registry[self.provider].Settings
        key = next(iter(set(declared.secret_variables()) & set(declared.turned_on_by())), None)
        url = next(iter(declared.url_variables()), None)
        resolved = dict(found)
        for target, value in ((key, secret(self.finetune_api_key)), (url, self.finetune_base_url)):
            if target and value and target not in resolved:
                resolved[target] = value
        return resolved

    def _service_gaps(self) -> list[str]:
        """What `tunebot run` and `scheduler` lack: Slack credentials, a provider."""
        gaps = []
        if not self.slack_bot_token:
            gaps.append("SLACK_BOT_TOKEN is required: the bot token (xoxb-...) of your app")
        if not self.socket_mode and not self.slack_signing_secret:
            gaps.append(
                "SLACK_SIGNING_SECRET is required in HTTP mode: the app's signing secret "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            )
        return gaps + self.provider_problems()

    def provider_problems(self) -> list[str]:
        return self.registry.problems(
            self.provider_env, default=self.provider, base=self.base_provider
        )
