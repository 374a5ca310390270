"""ChatGateway: streamed chat completions from any OpenAI-compatible API, errors made plain."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import openai

from admin.errors import ModelUnavailable, ProviderUnavailable


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
    def __init__(self, client: openai.OpenAI) -> None:
        self._client = client

    def stream(
        self, *, model: str, messages: Sequence[dict[str, Any]], max_tokens: int
    ) -> ReplyStream:
        """Start a streamed completion; raises before any text if the request is refused."""
        try:
            response = self._client.chat.completions.create(
                model=model,
                messages=cast(Any, list(messages)),
                max_completion_tokens=max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
        except openai.APIError as error:
            raise _plain(error, model) from error
        usage = Usage()
        return ReplyStream(deltas=self._deltas(response, usage, model), usage=usage)

    def _deltas(self, response: Any, usage: Usage, model: str) -> Iterator[str]:
        try:
            for chunk in response:
                if chunk.usage is not None:
                    usage.prompt_tokens = chunk.usage.prompt_tokens
                    usage.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.delta is not None and choice.delta.content:
                        yield choice.delta.content
        except openai.APIError as error:
            raise _plain(error, model) from error
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
