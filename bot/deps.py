"""The composition root: real clients built once from Settings and handed down as Deps."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy import Engine

from admin.budget import Budget, SpendGauge
from admin.datastore import DatasetStore
from admin.evaluation.answering import ClientPool
from admin.evaluation.config import EvalConfig, EvalDeps, ModelPair
from admin.lifecycle import resolve_model
from admin.poller import PollerDeps
from admin.providers.plugin import Capability
from admin.providers.registry import Providers
from admin.providers.settings import secret
from bot.agent import AgentSurfaces
from bot.config import Settings
from bot.home import HomePublisher
from bot.job_plans import PlanLedger, PlanMessages
from bot.llm import ChatRouter
from bot.notify import SlackNotifier
from bot.slack_http import PooledWebClient
from storage import repo
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
    agent: AgentSurfaces  # the thread status, titles and suggested prompts around answers
    home: HomePublisher  # publishes one person's Home tab as it is now
    eval_clients: ClientPool = field(default_factory=ClientPool)
    # This month's spend against TUNEBOT_MONTHLY_BUDGET_USD; None: no budget is set.
    budget: SpendGauge | None = None

    @property
    def base_model(self) -> ModelRef:
        """TUNEBOT_BASE_MODEL where it is served: what answers until a model is chosen."""
        return ModelRef(self.settings.base_model_provider, self.settings.base_model)

    @property
    def budget_fallback(self) -> ModelRef | None:
        """What answers once this month's budget is spent; None: nothing does."""
        return self.budget.budget.fallback if self.budget is not None else None

    def poller(self) -> PollerDeps:
        return PollerDeps(
            providers=self.providers,
            session_factory=self.session_factory,
            notifier=self.notifier,
            notify_channel=self.settings.notify_channel,
            confirm_above_usd=self.settings.confirm_above_usd,
            evaluation=self.evaluation() if self.settings.eval_enabled else None,
            base_model=self.base_model,
            budget=self.budget,
        )

    def evaluation(self) -> EvalDeps:
        """The eval gate's dependencies (also for `/finetune eval`, whatever TUNEBOT_EVAL says)."""
        settings = self.settings

        def current_model(channel: str | None) -> ModelPair:
            with self.session_factory() as session:
                return repo.get_active_model(session, default=self.base_model, channel=channel)

        def named_model(model: str, provider: str | None) -> ModelPair:
            return resolve_model(
                self.session_factory,
                self.providers,
                model=model,
                provider=provider,
                default_model=self.base_model,
            )

        return EvalDeps(
            config=EvalConfig(
                enabled=settings.eval_enabled,
                max_examples=settings.eval_max_examples,
                margin=settings.eval_margin,
                judge_model=settings.judge_model,
                max_tokens=settings.max_reply_tokens,
            ),
            session_factory=self.session_factory,
            store=self.store,
            endpoint_for=lambda provider: self.providers.get(provider).endpoint,
            current_model=current_model,
            resolve_model=named_model,
            default_provider=settings.base_model_provider,
            clients=self.eval_clients,
            bills_while_deployed=lambda provider: (
                provider in self.providers
                and Capability.DEPLOYMENTS in self.providers.get(provider).capabilities
            ),
        )

    def close(self) -> None:
        if self.budget is not None:
            self.budget.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.agent.close()
        self.slack.close()
        self.chat.close()
        self.engine.dispose()


def build_slack_client(
    settings: Settings, *, logger: logging.Logger | None = None
) -> PooledWebClient:
    # 429s (Retry-After), dropped connections and 5xx are retried by the SDK itself.
    return PooledWebClient(
        token=secret(settings.slack_bot_token),
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
        registry=settings.registry,
        default=settings.provider,
        base=settings.base_model_provider,
        session_factory=session_factory,
        data_dir=settings.dataset_dir,
    )
    home = HomePublisher(
        settings=settings, session_factory=session_factory, providers=providers, client=slack
    )
    plans = PlanMessages(slack, PlanLedger(session_factory))
    budget = None
    if settings.monthly_budget_usd is not None:
        fallback = settings.budget_fallback
        budget = SpendGauge(
            Budget(
                limit_usd=settings.monthly_budget_usd,
                fallback=ModelRef(*fallback) if fallback is not None else None,
                admins=settings.admins,
                notify_channel=settings.notify_channel,
            ),
            session_factory,
            providers,
        )
    return Deps(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        slack=slack,
        providers=providers,
        chat=ChatRouter(providers),
        store=DatasetStore(settings.dataset_dir),
        notifier=SlackNotifier(slack, plans=plans, home=home),
        home=home,
        # Each answer holds a thread while the model streams (seconds, with a real model), so
        # the pool is sized for concurrent conversations, not for CPU.
        executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="tunebot-listener"),
        agent=AgentSurfaces(slack),
        budget=budget,
    )
