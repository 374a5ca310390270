"""OpenAI emulator: chat, files, uploads, fine-tuning and models on loopback for the SDK."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from emulators import openai_chat as chat
from emulators import openai_models as catalogue
from emulators import openai_training as training
from emulators._http import LoopbackServer
from emulators._support import wait_for
from emulators._wire import Request, Response
from emulators.openai_api import Fault, Gateway, install, internal_error, invalid_url
from emulators.openai_custom import CustomModels
from emulators.openai_models import DEFAULT_MODELS
from emulators.openai_state import Json, OpenAIError, State
from emulators.openai_uploads import UploadStore

T = TypeVar("T")

__all__ = ["DEFAULT_MODELS", "OpenAIEmulator"]


class OpenAIEmulator(LoopbackServer):
    """Faults are armed per route name: chat, files, uploads, fine_tuning, models, custom_models."""

    def __init__(
        self,
        *,
        api_key: str = "sk-emulator-key",
        models: Iterable[str] = DEFAULT_MODELS,
        organization: str = "org-emulator",
    ) -> None:
        super().__init__()
        self.organization = organization
        self.state = State(organization)
        for model_id in models:
            self.add_model(model_id)
        self.reply: chat.Reply = chat.default_reply
        self.scripts: dict[str, chat.Reply] = {}  # per model, ahead of `reply`
        self.chunk_delay = 0.0
        # Seconds per generated token, streamed or not: a model's pace, for benchmarks.
        self.token_delay = 0.0
        self.results_base64 = True  # as OpenAI serves fine-tune results files
        self._uploads = UploadStore(self.state)
        self._custom = CustomModels(self.state)
        self._gateway = Gateway(self.router, api_key)
        record = functools.partial(chat.record, self.state)
        install(self._gateway, self.state, self._chat, record, self._uploads, self._custom)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def api_key(self) -> str:
        return self._gateway.api_key

    @api_key.setter
    def api_key(self, key: str) -> None:
        self._gateway.api_key = key

    def stop(self) -> None:
        super().stop()
        self._uploads.close()

    def _chat(self, request: Request) -> Response:
        return chat.complete(
            self.state,
            request,
            reply_with=self._reply,
            chunk_delay=self.chunk_delay,
            token_delay=self.token_delay,
        )

    def _reply(self, model: str, messages: list[Json]) -> str:
        return self.scripts.get(model, self.reply)(model, messages)

    def not_found(self, request: Request) -> Response:
        return invalid_url(request)

    def internal_error(self, request: Request) -> Response:
        return internal_error()

    # -- test controls -----------------------------------------------------------------------

    def script(self, model: str, answers: chat.Reply | Mapping[str, str]) -> None:
        """Answer chat requests for `model` with `answers(model, messages)`, or look the last
        user message up in a mapping (a question it lacks gets the default reply)."""
        if callable(answers):
            self.scripts[model] = answers
        else:
            self.scripts[model] = chat.lookup_reply(dict(answers), self.reply)

    def fail_next(
        self,
        route: str,
        *,
        status: int,
        times: int = 1,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        delay: float | None = None,
    ) -> None:
        """Fail the next `times` requests to `route`; a status below 400 only delays them."""
        self._gateway.faults.push(route, Fault(status, code, message, retry_after, delay), times)

    def add_model(
        self, model_id: str, *, owned_by: str = "system", shutdown_date: str | None = None
    ) -> None:
        catalogue.add_model(self.state, model_id, owned_by=owned_by, shutdown_date=shutdown_date)

    def remove_model(self, model_id: str) -> None:
        catalogue.remove_model(self.state, model_id)

    def set_shutdown_date(self, model_id: str, date: str | None) -> None:
        catalogue.set_shutdown_date(self.state, model_id, date)

    def refuse_new_jobs(
        self, message: str, *, status: int = 403, code: str = "fine_tuning_unavailable"
    ) -> None:
        """Every job create fails with this provider message until accept_new_jobs()."""
        self.state.refusal = OpenAIError(status, message, code=code)

    def accept_new_jobs(self) -> None:
        self.state.refusal = None

    def advance_job(self, job_id: str, status: str) -> Json:
        return training.advance_job(self.state, job_id, status)

    def train_steps(self, job_id: str, step: int, *, steps: int = 10) -> None:
        """The job trains up to `step` of `steps`, reporting each step in its events."""
        training.train_steps(self.state, job_id, step, steps)

    def succeed_job(
        self,
        job_id: str,
        *,
        fine_tuned_model: str | None = None,
        steps: int = 10,
        callable_after_calls: int = 0,
    ) -> str:
        return training.succeed_job(
            self.state,
            job_id,
            fine_tuned_model=fine_tuned_model,
            steps=steps,
            callable_after_calls=callable_after_calls,
            results_base64=self.results_base64,
        )

    def fail_job(self, job_id: str, *, code: str, message: str, param: str | None = None) -> Json:
        return training.fail_job(self.state, job_id, code=code, message=message, param=param)

    @property
    def activation_polls(self) -> int:
        return self._custom.activation_polls

    @activation_polls.setter
    def activation_polls(self, polls: int) -> None:
        self._custom.activation_polls = polls

    # -- inspection --------------------------------------------------------------------------

    def _copy(self, value: T) -> T:
        with self.state.lock:
            return copy.deepcopy(value)

    @property
    def chat_requests(self) -> list[Json]:
        return self._copy(self.state.chat_requests)

    @property
    def files(self) -> dict[str, tuple[Json, bytes]]:
        with self.state.lock:
            return {i: (dict(f.meta), f.data) for i, f in self.state.files.items()}

    @property
    def jobs(self) -> dict[str, Json]:
        return self._copy(self.state.jobs)

    @property
    def model_ids(self) -> list[str]:
        with self.state.lock:
            return list(self.state.models)

    def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        return wait_for(predicate, timeout, context=self._summary)

    def _summary(self) -> str:
        with self.state.lock:
            asked = [f"{r.get('model')}" for r in self.state.chat_requests[-5:]]
            states = [f"{j['id']}={j['status']}" for j in self.state.jobs.values()]
        return f"last chat models: {asked or '(none)'}; jobs: {states or '(none)'}"
