"""What the Together and Fireworks emulators share: key check, armed faults, OpenAI-style chat."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulators import openai_chat as chat
from emulators._http import LoopbackServer
from emulators._support import FaultQueue
from emulators._wire import Request, Response
from emulators.openai_models import add_model
from emulators.openai_state import OpenAIError, State

Route = Callable[[Request], Any]
ErrorShape = Callable[[int, str], Response]


@dataclass(frozen=True)
class Fault:
    status: int  # below 400: only the delay (a hang) applies
    message: str | None
    retry_after: float | None
    delay: float | None


class HostedEmulator(LoopbackServer):
    """Routes registered with `route` check the key, then fail as armed, then run."""

    def __init__(self, api_key: str, error: ErrorShape) -> None:
        super().__init__()
        self.api_key = api_key
        self._error = error
        self.faults: FaultQueue[Fault] = FaultQueue()
        # The chat side is OpenAI's chat completions; `chat_state.models` is what answers.
        self.chat_state = State("org-hosted")
        self.reply: chat.Reply = chat.default_reply
        self.calls: list[tuple[str, str]] = []  # (method, path) of every authorised request

    def route(self, method: str, pattern: str, name: str, handler: Route) -> None:
        def run(request: Request) -> Response:
            if request.bearer() != self.api_key:
                return self._error(401, "Invalid API key provided. You can find your API key.")
            self.calls.append((request.method, request.path))
            fault = self.faults.pop(name)
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status >= 400:
                    failed = self._error(
                        fault.status, fault.message or _DEFAULTS.get(fault.status, "Error.")
                    )
                    if fault.retry_after is not None:
                        failed.headers["retry-after"] = f"{fault.retry_after:g}"
                    return failed
            try:
                result = handler(request)
            except OpenAIError as error:  # the chat route speaks OpenAI's error shape
                return error.response()
            return result if isinstance(result, Response) else _json(result)

        self.router.add(method, pattern, run)

    def fail_next(
        self,
        route: str,
        *,
        status: int,
        times: int = 1,
        message: str | None = None,
        retry_after: float | None = None,
        delay: float | None = None,
    ) -> None:
        """Fail the next `times` requests to `route` (a 429 with Retry-After, a 5xx, a hang)."""
        self.faults.push(route, Fault(status, message, retry_after, delay), times)

    def serve_model(self, name: str) -> None:
        add_model(self.chat_state, name, owned_by="hosted")

    def stop_serving(self, name: str) -> None:
        with self.chat_state.lock:
            self.chat_state.models.pop(name, None)

    def chat(self, request: Request) -> Response:
        chat.record(self.chat_state, request)
        return chat.complete(self.chat_state, request, reply_with=self.reply, chunk_delay=0.0)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        with self.chat_state.lock:
            return list(self.chat_state.chat_requests)


# HTTP status -> gRPC code, as grpc-gateway maps them (Fireworks' API, Together's v2 services).
GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}


def grpc_error(status: int, message: str) -> Response:
    """grpc-gateway's error body: `{"code", "message", "details"}`."""
    from emulators._wire import json_response

    return json_response({"code": GRPC.get(status, 2), "message": message, "details": []}, status)


def _json(payload: Any) -> Response:
    from emulators._wire import json_response

    return json_response(payload)


_DEFAULTS = {
    400: "Invalid request.",
    402: "Insufficient credits.",
    403: "Forbidden.",
    404: "Not found.",
    409: "Already exists.",
    429: "Rate limit exceeded. Please try again later.",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service unavailable.",
}
