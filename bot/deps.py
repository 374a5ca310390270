"""The composition root: real clients built once from Settings and handed down as Deps."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import openai
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy import Engine

from admin.datastore import DatasetStore
from admin.evaluation.answering import ClientPool
from admin.evaluation.config import EvalConfig, EvalDeps, ModelPair
from admin.poller import PollerDeps
from admin.providers import FineTuneProvider, build_provider
from admin.providers.plugin import ChatEndpoint
from bot.config import Settings
from bot.llm import ChatGateway
from bot.notify import SlackNotifier
from bot.slack_http import PooledWebClient
from storage import repo
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
    eval_clients: ClientPool = field(default_factory=ClientPool)

    def poller(self) -> PollerDeps:
        return PollerDeps(
            provider=self.provider,
            session_factory=self.session_factory,
            notifier=self.notifier,
            notify_channel=self.settings.notify_channel,
            evaluation=self.evaluation() if self.settings.eval_enabled else None,
        )

    def evaluation(self) -> EvalDeps:
        """The eval gate's dependencies (also for `/finetune eval`, whatever TUNEBOT_EVAL says)."""
        settings = self.settings
        # TODO(merge): one endpoint per provider from `Providers.get(name).endpoint`, the active
        # model's provider from the stored (provider, model), once the provider wiring lands.
        endpoint = ChatEndpoint(settings.openai_base_url, settings.openai_api_key)

        def current_model() -> ModelPair:
            with self.session_factory() as session:
                model = repo.get_active_model(session, default=settings.base_model)
            return (settings.provider, model)

        return EvalDeps(
            config=EvalConfig(
                enabled=settings.eval_enabled,
                max_examples=settings.eval_max_examples,
                margin=settings.eval_margin,
                judge_model=settings.judge_model,
                max_tokens=settings.max_reply_tokens,
            ),
            session_factory=self.session_factory,
            store=DatasetStore(settings.dataset_dir),
            endpoint_for=lambda provider: endpoint,
            current_model=current_model,
            resolve_model=lambda model: (settings.provider, model),
            default_provider=settings.provider,
            clients=self.eval_clients,
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
