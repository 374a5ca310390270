"""POST /v1/chat/completions: validation, a deterministic reply, JSON or server-sent events."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from emulators._support import random_id, request_id
from emulators._wire import BodyError, Request, Response
from emulators.openai_models import resolve_for_chat
from emulators.openai_state import Json, OpenAIError, State, body_of, now, reply

Reply = Callable[[str, list[dict[str, Any]]], str]
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
FINGERPRINT = "fp_emulator"


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def default_reply(model: str, messages: list[dict[str, Any]]) -> str:
    """Names the model that answered and quotes the question, so tests can see both."""
    asked = next((text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")
    quoted = " ".join(asked.split())[:200]
    return f'[{model}] You asked: "{quoted}". Here is a short, deterministic emulated answer.'


def lookup_reply(answers: dict[str, str], otherwise: Reply) -> Reply:
    """A reply that answers each known question (the last user message) from `answers`."""

    def reply(model: str, messages: list[dict[str, Any]]) -> str:
        asked = next((text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")
        found = answers.get(asked)
        return found if found is not None else otherwise(model, messages)

    return reply


def tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def record(state: State, request: Request) -> None:
    """Keep every body that reached the route, including ones answered with an injected fault."""
    try:
        body = request.json()
    except BodyError:
        body = None
    with state.lock:
        state.chat_requests.append(
            body if isinstance(body, dict) else {"_unparsed": request.body.decode()}
        )


def _validate(body: Json) -> list[dict[str, Any]]:
    if not body.get("model"):
        raise OpenAIError(400, "you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        raise OpenAIError(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        message = (
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead."
        )
        raise OpenAIError(400, message, param="messages", code="empty_array")
    for i, item in enumerate(messages):
        role = item.get("role") if isinstance(item, dict) else None
        if role not in ROLES:
            supported = ", ".join(f"'{r}'" for r in ROLES)
            raise OpenAIError(
                400,
                f"Invalid value: '{role}'. Supported values are: {supported}.",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
    if body.get("stream_options") is not None and not body.get("stream"):
        message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        raise OpenAIError(400, message, param="stream_options", code="invalid_value")
    return messages


def complete(
    state: State,
    request: Request,
    *,
    reply_with: Reply,
    chunk_delay: float,
    token_delay: float = 0.0,
) -> Response:
    body = body_of(request.json())
    messages = _validate(body)
    requested = str(body["model"])
    answered_by = resolve_for_chat(state, requested)
    text = reply_with(requested, messages)
    finish = "stop"
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and tokens(text) > limit:
        text, finish = text[: limit * 4], "length"
    prompt = sum(tokens(text_of(m)) + 4 for m in messages) + 3
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": tokens(text),
        "total_tokens": prompt + tokens(text),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    head = {"id": random_id("chatcmpl-", 29), "created": now(), "model": answered_by}
    head |= {"service_tier": "default", "system_fingerprint": FINGERPRINT}
    n = int(body.get("n") or 1)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        pace = (chunk_delay, token_delay)
        events = _events(head, text, finish, n, usage if include_usage else None, pace)
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        return Response(200, events, headers | {"x-request-id": request_id()})
    if token_delay:
        time.sleep(token_delay * tokens(text) * n)  # the whole answer is generated first
    choices: list[Json] = [
        {
            "index": i,
            "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": finish,
        }
        for i in range(n)
    ]
    return reply(head | {"object": "chat.completion", "choices": choices, "usage": usage})


def _events(
    head: Json, text: str, finish: str, n: int, usage: Json | None, pace: tuple[float, float]
) -> Iterator[bytes]:
    """Chunks as OpenAI streams them: role first, then content pieces, then finish, then usage."""
    base = head | {"object": "chat.completion.chunk"}
    extra = {"usage": None} if usage is not None else {}

    def event(choices: list[Json], **fields: Any) -> bytes:
        return b"data: " + json.dumps(base | {"choices": choices} | fields).encode() + b"\n\n"

    def choice(index: int, delta: Json, finish_reason: str | None = None) -> Json:
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    pieces = re.findall(r"\s*\S+", text) or [text]
    for index in range(n):
        yield event([choice(index, {"role": "assistant", "content": "", "refusal": None})], **extra)
        for piece in pieces:
            delay = pace[0] + pace[1] * max(1, tokens(piece))
            if delay:
                time.sleep(delay)
            yield event([choice(index, {"content": piece})], **extra)
        yield event([choice(index, {}, finish)], **extra)
    if usage is not None:
        yield event([], usage=usage)
    yield b"data: [DONE]\n\n"
