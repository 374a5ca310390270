"""The composition root: real clients built once from Settings and handed down as Deps."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy import Engine

from admin.datastore import DatasetStore
from admin.poller import PollerDeps
from admin.providers.registry import Providers
from bot.config import Settings
from bot.llm import ChatRouter
from bot.notify import SlackNotifier
from bot.slack_http import PooledWebClient
from storage.db import SessionFactory, build_engine, build_session_factory
from storage.repo import ModelRef


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    session_factory: SessionFactory
    slack: PooledWebClient
    providers: Providers
    chat: ChatRouter
    store: DatasetStore
    notifier: SlackNotifier
    executor: ThreadPoolExecutor

    @property
    def base_model(self) -> ModelRef:
        """TUNEBOT_BASE_MODEL where it is served: what answers until a model is chosen."""
        return ModelRef(self.settings.base_model_provider, self.settings.base_model)

    def poller(self) -> PollerDeps:
        return PollerDeps(
            providers=self.providers,
            session_factory=self.session_factory,
            notifier=self.notifier,
            notify_channel=self.settings.notify_channel,
            confirm_above_usd=self.settings.confirm_above_usd,
        )

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.slack.close()
        self.chat.close()
        self.engine.dispose()


def build_slack_client(
    settings: Settings, *, logger: logging.Logger | None = None
) -> PooledWebClient:
    # 429s (Retry-After), dropped connections and 5xx are retried by the SDK itself.
    return PooledWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
        logger=logger or logging.getLogger("slack_sdk.web"),
    )


def build_deps(settings: Settings) -> Deps:
    engine = build_engine(settings.database_url)
    session_factory = build_session_factory(engine)
    slack = build_slack_client(settings)
    providers = Providers.from_env(
        settings.provider_env,
        default=settings.provider,
        base=settings.base_model_provider,
        session_factory=session_factory,
        data_dir=settings.dataset_dir,
    )
    return Deps(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        slack=slack,
        providers=providers,
        chat=ChatRouter(providers),
        store=DatasetStore(settings.dataset_dir),
        notifier=SlackNotifier(slack),
        # Each answer holds a thread while the model streams (seconds, with a real model), so
        # the pool is sized for concurrent conversations, not for CPU.
        executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="tunebot-listener"),
    )
