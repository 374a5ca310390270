"""ChatGateway: streamed chat completions from any OpenAI-compatible API, errors made plain."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from admin.errors import ModelUnavailable, ProviderUnavailable
from admin.providers.plugin import ChatEndpoint
from admin.providers.registry import Providers


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class ReplyStream:
    """Text deltas as the model produces them; `usage` is filled once the stream is drained."""

    deltas: Iterator[str]
    usage: Usage = field(default_factory=Usage)


class ChatGateway:
    def __init__(
        self, client: openai.OpenAI, *, token_limit_field: str = "max_completion_tokens"
    ) -> None:
        self._client = client
        self._token_limit_field = token_limit_field

    @classmethod
    def for_endpoint(cls, endpoint: ChatEndpoint) -> ChatGateway:
        client = openai.OpenAI(
            api_key=endpoint.api_key or "unset",
            base_url=endpoint.base_url,
            max_retries=2,
            timeout=60.0,
        )
        return cls(client, token_limit_field=endpoint.token_limit_field)

    def close(self) -> None:
        self._client.close()

    def stream(
        self, *, model: str, messages: Sequence[dict[str, Any]], max_tokens: int
    ) -> ReplyStream:
        """Start a streamed completion; raises before any text if the request is refused."""
        # The SDK sends the request, retries and raises typed errors. The body goes through its
        # documented `post` for raw requests, as a plain dict: `chat.completions.create` walks
        # every message through its type-driven transform first, a quarter of the SDK's cost
        # per answer. The server-sent events are read here: a pydantic model per token chunk
        # was the largest share of the bot's CPU per answer, delaying everyone's first words.
        body = {
            "model": model,
            "messages": list(messages),
            self._token_limit_field: max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        try:
            response = self._client.post(
                "/chat/completions", cast_to=httpx2.Response, body=body, stream=True
            )
        except openai.APIError as error:
            raise _plain(error, model) from error
        usage = Usage()
        return ReplyStream(deltas=_deltas(response, usage, model), usage=usage)


class ChatRouter:
    """One pooled chat client per endpoint, built once; a message goes to its model's provider."""

    def __init__(self, providers: Providers) -> None:
        self._by_provider: dict[str, ChatGateway] = {}
        shared: dict[ChatEndpoint, ChatGateway] = {}
        for provider in providers:
            endpoint = provider.endpoint
            if endpoint not in shared:
                shared[endpoint] = ChatGateway.for_endpoint(endpoint)
            self._by_provider[provider.name] = shared[endpoint]

    def gateway(self, provider: str, model: str) -> ChatGateway:
        found = self._by_provider.get(provider)
        if found is None:
            # Its provider is not configured any more: to the user, the model is gone.
            raise ModelUnavailable(model)
        return found

    def close(self) -> None:
        for gateway in set(self._by_provider.values()):
            gateway.close()


def _deltas(response: httpx2.Response, usage: Usage, model: str) -> Iterator[str]:
    done = False
    try:
        # Read to the end of the body even after [DONE]: a response closed part-read takes
        # its connection with it, and the next answer would open (and handshake) a new one.
        for line in response.iter_lines():
            if done or not line.startswith("data:"):
                continue  # blank separators, comments, `event:` lines
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                continue
            chunk = json.loads(data)
            if chunk.get("error"):
                raise ProviderUnavailable("the stream was interrupted")
            if chunk.get("usage"):
                usage.prompt_tokens = chunk["usage"].get("prompt_tokens")
                usage.completion_tokens = chunk["usage"].get("completion_tokens")
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield text
    except httpx2.HTTPError as error:
        raise ProviderUnavailable("the stream was interrupted") from error
    except (ValueError, KeyError, AttributeError) as error:
        raise ProviderUnavailable("unexpected response") from error
    finally:
        response.close()


def _plain(error: openai.APIError, model: str) -> Exception:
    if isinstance(error, openai.NotFoundError):
        return ModelUnavailable(model)
    if isinstance(error, openai.RateLimitError):
        return ProviderUnavailable("rate limited")
    if isinstance(error, openai.APITimeoutError):
        return ProviderUnavailable("timed out")
    if isinstance(error, openai.APIConnectionError):
        return ProviderUnavailable("could not connect")
    if isinstance(error, openai.InternalServerError):
        return ProviderUnavailable("server error")
    if isinstance(error, openai.AuthenticationError):
        return ProviderUnavailable("the API key was refused")
    if isinstance(error, openai.APIStatusError):
        return ProviderUnavailable(f"HTTP {error.status_code}")
    return ProviderUnavailable("unexpected response")
