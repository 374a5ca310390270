"""The composition root: real clients built once from Settings and handed down as Deps."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy import Engine

from admin.poller import PollerDeps
from admin.providers import FineTuneProvider, build_provider
from bot.config import Settings
from bot.llm import ChatGateway
from bot.notify import SlackNotifier
from bot.slack_http import PooledWebClient
from storage.db import SessionFactory, build_engine, build_session_factory


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    session_factory: SessionFactory
    slack: PooledWebClient
    chat: ChatGateway
    provider: FineTuneProvider
    notifier: SlackNotifier
    executor: ThreadPoolExecutor

    def poller(self) -> PollerDeps:
        return PollerDeps(
            provider=self.provider,
            session_factory=self.session_factory,
            notifier=self.notifier,
            notify_channel=self.settings.notify_channel,
            confirm_above_usd=self.settings.confirm_above_usd,
        )

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.slack.close()
        self.engine.dispose()


def build_slack_client(settings: Settings) -> PooledWebClient:
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
        logger=logging.getLogger("slack_sdk.web"),
    )


def build_openai_client(settings: Settings) -> openai.OpenAI:
    """The chat API: OPENAI_BASE_URL and OPENAI_API_KEY."""
    return _openai(settings.openai_api_key, settings.openai_base_url, timeout=60.0)


def build_finetune_client(settings: Settings) -> openai.OpenAI:
    """The fine-tuning backend's own endpoint and key, defaulting to the chat API's."""
    return _openai(
        settings.finetune_api_key or settings.openai_api_key,
        settings.finetune_base_url or settings.openai_base_url,
        timeout=120.0,  # uploads of large training files
    )


def _openai(api_key: str | None, base_url: str | None, *, timeout: float) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=api_key or "unset", base_url=base_url, max_retries=2, timeout=timeout
    )


def build_deps(settings: Settings) -> Deps:
    engine = build_engine(settings.database_url)
    openai_client = build_openai_client(settings)
    slack = build_slack_client(settings)
    return Deps(
        settings=settings,
        engine=engine,
        session_factory=build_session_factory(engine),
        slack=slack,
        chat=ChatGateway(openai_client),
        provider=build_provider(settings.provider, build_finetune_client(settings)),
        notifier=SlackNotifier(slack),
        # Each answer holds a thread while the model streams (seconds, with a real model), so
        # the pool is sized for concurrent conversations, not for CPU.
        executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="tunebot-listener"),
    )
