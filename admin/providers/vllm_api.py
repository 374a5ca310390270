"""The few vLLM server routes tunebot calls beyond chat: its model list and LoRA loading.

vLLM answers `/v1/load_lora_adapter` with plain text on success and `{"error": {...}}` (or,
in older releases, a flat `{"message": ...}`) on failure, so these go through the standard
library rather than the OpenAI SDK, which expects JSON everywhere.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class Unreachable(Exception):
    """The server did not answer at all (down, restarting, wrong URL)."""


class VllmRefusal(Exception):
    """vLLM answered with an error: its HTTP status, message and error type."""

    def __init__(self, status: int, message: str, type: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type


class VllmServer:
    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout

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

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as failure:
            raise _refusal(failure.code, failure.read()) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as failure:
            raise Unreachable(str(getattr(failure, "reason", failure))) from None
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
    return VllmRefusal(status, str(body.get("message") or "")[:500], str(body.get("type") or ""))
