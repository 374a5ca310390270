"""What an evaluation needs: its settings, the database, the dataset store, the chat endpoints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from admin.datastore import DatasetStore
from admin.evaluation.answering import ClientPool
from admin.providers.plugin import ChatEndpoint
from storage.db import SessionFactory

# (provider, model): where a model is answered and its id there.
ModelPair = tuple[str, str]


@dataclass(frozen=True)
class EvalConfig:
    enabled: bool = True  # TUNEBOT_EVAL
    max_examples: int = 50  # TUNEBOT_EVAL_MAX_EXAMPLES
    margin: float = 0.0  # TUNEBOT_EVAL_MARGIN, in chrF points
    judge_model: str | None = None  # TUNEBOT_JUDGE_MODEL
    judge_provider: str | None = None  # where the judge answers; None: the base model's provider
    # Answers requested at once. Enough to hide each answer's generation time (a 60-token
    # answer takes seconds) without being what trips a provider's rate limit; a 429 pauses
    # the whole run for its Retry-After anyway.
    concurrency: int = 16
    max_tokens: int = 1024  # per answer, as for answers in Slack
    tries: int = 5  # per answer: 429s (after their Retry-After) and transient failures
    max_failures: int = 3  # runs that end in a provider failure before the job is held back
    # A runner holds the evaluation this long past its last stored answer (longer than five
    # tries' worth of Retry-After pauses); after that (it crashed) the next scheduler resumes.
    lease: timedelta = timedelta(minutes=10)


@dataclass
class EvalDeps:
    config: EvalConfig
    session_factory: SessionFactory
    store: DatasetStore | None
    # The OpenAI-compatible chat endpoint a provider's models answer at.
    endpoint_for: Callable[[str], ChatEndpoint]
    # The model answering now in a channel (None: the workspace's): what a candidate trained
    # for that channel (or for the workspace) is compared with.
    current_model: Callable[[str | None], ModelPair]
    # `against=<model> [provider=]` of `/finetune eval` -> the (provider, model) it names.
    resolve_model: Callable[[str, str | None], ModelPair]
    default_provider: str
    clients: ClientPool = field(default_factory=ClientPool)
    # Whether a provider's trained models run on a deployment that bills while it exists.
    bills_while_deployed: Callable[[str], bool] = lambda provider: False

    def judge(self) -> ModelPair | None:
        if not self.config.judge_model:
            return None
        return (self.config.judge_provider or self.default_provider, self.config.judge_model)
