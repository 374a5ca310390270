"""The few vLLM server routes tunebot calls beyond chat: its model list and LoRA loading.

vLLM answers `/v1/load_lora_adapter` with plain text on success and `{"error": {...}}` (or,
in older releases, a flat `{"message": ...}`) on failure, and a route it was started without
(runtime LoRA updating off) with FastAPI's `{"detail": "Not Found"}`, so these go through the
standard library rather than the OpenAI SDK, which expects JSON everywhere.

Behind a load balancer each replica keeps its own adapters. A balancer in front of several
vLLM pods (a Kubernetes Service) picks a replica per TCP connection, so `replica()` holds one
connection: what its listing shows is what that same replica is asked to unload.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit


class Unreachable(Exception):
    """The server did not answer at all (down, restarting, wrong URL)."""


class VllmRefusal(Exception):
    """vLLM answered with an error: its HTTP status, message and error type."""

    def __init__(self, status: int, message: str, type: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type

    @property
    def no_such_route(self) -> bool:
        """The server has no such route: vLLM started without runtime LoRA updating."""
        return self.status in (404, 405) and self.message in ("Not Found", "Method Not Allowed")


class VllmServer:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 30.0,
        connection: http.client.HTTPConnection | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._connection = connection  # None: a connection per call

    @contextmanager
    def replica(self) -> Iterator[VllmServer]:
        """The same server over one kept-alive connection: one replica behind a balancer."""
        connection = self._connect()
        try:
            yield VllmServer(
                self.base_url, self._api_key, timeout=self._timeout, connection=connection
            )
        finally:
            connection.close()

    def models(self) -> list[dict[str, Any]]:
        body = self._call("GET", "/models")
        data = body.get("data") if isinstance(body, dict) else None
        return [m for m in data or [] if isinstance(m, dict)]

    def base_models(self) -> list[dict[str, Any]]:
        return [m for m in self.models() if not m.get("parent")]

    def load_adapter(self, name: str, path: str) -> None:
        self._call("POST", "/load_lora_adapter", {"lora_name": name, "lora_path": path})

    def unload_adapter(self, name: str) -> None:
        self._call("POST", "/unload_lora_adapter", {"lora_name": name})

    def chat(self, model: str, text: str, max_tokens: int) -> dict[str, Any]:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens,
        }
        found = self._call("POST", "/chat/completions", body)
        return found if isinstance(found, dict) else {}

    def _connect(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.base_url)
        secure = parts.scheme == "https"
        kind = http.client.HTTPSConnection if secure else http.client.HTTPConnection
        return kind(parts.hostname or "", parts.port, timeout=self._timeout)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = self._connection or self._connect()
        try:
            connection.request(method, urlsplit(self.base_url).path + path, data, headers)
            response = connection.getresponse()
            status, raw = response.status, response.read()
        except (OSError, http.client.HTTPException) as failure:
            connection.close()  # a kept connection reconnects on its next request
            raise Unreachable(str(failure) or type(failure).__name__) from None
        finally:
            if self._connection is None:
                connection.close()
        if status >= 400:
            raise _refusal(status, raw)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", errors="replace")  # "Success: LoRA adapter ... added"


def _refusal(status: int, raw: bytes) -> VllmRefusal:
    try:
        body = json.loads(raw)
    except ValueError:
        return VllmRefusal(status, raw.decode("utf-8", errors="replace")[:500], "")
    inner = body.get("error") if isinstance(body, dict) else None
    if isinstance(inner, dict):
        body = inner
    elif isinstance(inner, str):
        return VllmRefusal(status, inner, "")
    if not isinstance(body, dict):
        return VllmRefusal(status, str(body)[:500], "")
    message = body.get("message") or body.get("detail") or ""
    return VllmRefusal(status, str(message)[:500], str(body.get("type") or ""))
