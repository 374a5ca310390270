"""The composition root: real clients built once from Settings and handed down as Deps."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy import Engine

from bot.config import Settings
from bot.llm import ChatGateway
from storage.db import SessionFactory, build_engine, build_session_factory


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    session_factory: SessionFactory
    slack: WebClient
    chat: ChatGateway
    executor: ThreadPoolExecutor

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()


def build_slack_client(settings: Settings) -> WebClient:
    # 429s (Retry-After), dropped connections and 5xx are retried by the SDK itself.
    return WebClient(
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
    return openai.OpenAI(
        api_key=settings.openai_api_key or "unset",
        base_url=settings.openai_base_url,
        max_retries=2,
        timeout=60.0,
    )


def build_deps(settings: Settings) -> Deps:
    engine = build_engine(settings.database_url)
    return Deps(
        settings=settings,
        engine=engine,
        session_factory=build_session_factory(engine),
        slack=build_slack_client(settings),
        chat=ChatGateway(build_openai_client(settings)),
        executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="tunebot-listener"),
    )
