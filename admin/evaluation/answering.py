"""Asking models for answers: one client per chat endpoint, a bounded pool, 429s waited out."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import openai

from admin.errors import TunebotError
from admin.providers.plugin import ChatEndpoint

log = logging.getLogger(__name__)

MAX_WAIT = 60.0  # seconds: the longest Retry-After honoured before the run gives up for now


class AnswerFailed(TunebotError):
    """A model could not answer after retries; the message is written for the report."""


@dataclass(frozen=True)
class Task:
    example: int
    side: str  # candidate | current | judge-1 | judge-2
    endpoint: ChatEndpoint
    model: str
    messages: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Answer:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float


class ClientPool:
    """One pooled `openai.OpenAI` per endpoint, built on first use and kept."""

    def __init__(self, *, timeout: float = 120.0) -> None:
        self._timeout = timeout
        self._clients: dict[ChatEndpoint, openai.OpenAI] = {}
        self._lock = threading.Lock()

    def get(self, endpoint: ChatEndpoint) -> openai.OpenAI:
        with self._lock:
            client = self._clients.get(endpoint)
            if client is None:
                # Retries are ours (below): a 429 pauses every worker, not just the one told.
                client = openai.OpenAI(
                    api_key=endpoint.api_key or "unset",
                    base_url=endpoint.base_url,
                    max_retries=0,
                    timeout=self._timeout,
                )
                self._clients[endpoint] = client
            return client


class Backoff:
    """A pause every worker of a run honours: a provider's Retry-After applies to all of us."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep
        self._until = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            left = self._until - time.monotonic()
        if left > 0:
            self._sleep(left)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)


def ask(
    client: openai.OpenAI, task: Task, *, max_tokens: int, backoff: Backoff, tries: int
) -> Answer:
    """One answer at temperature 0; retries 429s (after Retry-After) and transient failures."""
    limit = {task.endpoint.token_limit_field: max_tokens}
    reason = "no answer"
    for attempt in range(tries):
        backoff.wait()
        started = time.monotonic()
        try:
            response = client.chat.completions.create(
                model=task.model,
                messages=list(task.messages),  # type: ignore[arg-type]
                temperature=0,
                extra_body=limit,
            )
        except openai.RateLimitError as error:
            if _code(error) == "insufficient_quota":  # a 429 that waiting does not cure
                raise AnswerFailed(f"`{task.model}`: the account's quota is used up") from error
            reason = "rate limited"
            hinted = _retry_after(error.response.headers)
            wait_for = _pause(attempt) if hinted is None else hinted
            if wait_for > MAX_WAIT:
                break
            backoff.pause(wait_for)
            continue
        except (openai.APIConnectionError, openai.InternalServerError) as error:
            reason = _plain(error)
            backoff.pause(_pause(attempt))
            continue
        except openai.APIStatusError as error:
            raise AnswerFailed(f"`{task.model}` refused the request: {_plain(error)}") from error
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return Answer(
            text=(choice.message.content or "") if choice else "",
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            seconds=time.monotonic() - started,
        )
    raise AnswerFailed(f"`{task.model}` did not answer ({reason}, {tries} tries)")


def answer_all(
    tasks: Sequence[Task],
    *,
    clients: ClientPool,
    concurrency: int,
    max_tokens: int,
    tries: int,
    on_answer: Callable[[Task, Answer], None],
) -> None:
    """Ask every task's model, `concurrency` at a time, handing each answer on as it arrives.

    The first failure stops the tasks not yet started (answers already handed on are kept) and
    is raised once the running ones end.
    """
    if not tasks:
        return
    backoff, stop = Backoff(), threading.Event()

    def one(task: Task) -> tuple[Task, Answer] | None:
        if stop.is_set():
            return None
        client = clients.get(task.endpoint)
        return task, ask(client, task, max_tokens=max_tokens, backoff=backoff, tries=tries)

    pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(tasks))))
    failure: BaseException | None = None
    try:
        futures = [pool.submit(one, t) for t in tasks]
        order = {future: i for i, future in enumerate(futures)}
        pending: set[Future[tuple[Task, Answer] | None]] = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=order.__getitem__):  # as submitted, when together
                try:
                    result = future.result()
                except AnswerFailed as error:
                    stop.set()
                    failure = failure or error
                    continue
                if result is not None:
                    on_answer(*result)
    finally:
        stop.set()  # on any exit (a crash included) nothing new starts
        pool.shutdown(wait=True, cancel_futures=True)
    if failure is not None:
        raise failure


def _pause(attempt: int) -> float:
    """0, 0.5, 1.5, 3.5, 7.5 s: the first retry at once, then doubling."""
    return 0.5 * (2.0**attempt - 1)


def _retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms") if headers is not None else None
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after") if headers is not None else None
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _code(error: openai.APIStatusError) -> str | None:
    body = error.body if isinstance(error.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    code = inner.get("code") if isinstance(inner, dict) else None
    return code if isinstance(code, str) else None


def _plain(error: openai.APIError) -> str:
    if isinstance(error, openai.NotFoundError):
        return "the model was not found"
    if isinstance(error, openai.APITimeoutError):
        return "timed out"
    if isinstance(error, openai.APIConnectionError):
        return "could not connect"
    if isinstance(error, openai.AuthenticationError):
        return "the API key was refused"
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    return "unexpected response"
