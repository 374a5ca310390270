"""OpenAI emulator state and vocabulary: the error shape, list pages, the shared stores."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from emulators._support import request_id
from emulators._wire import Response, json_response

Json = dict[str, Any]


class OpenAIError(Exception):
    """An API error: `{"error": {"message", "type", "param", "code"}}` with an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status,
            message,
            type,
            param,
            code,
        )
        self.headers = headers or {}

    def response(self) -> Response:
        body = {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        return reply(body, self.status, self.headers)


def reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(payload, status, {"x-request-id": request_id(), **(headers or {})})


def not_found(kind: str, object_id: str, param: str = "id") -> OpenAIError:
    return OpenAIError(404, f"No such {kind}: '{object_id}'", param=param)


def now() -> int:
    return int(time.time())


def cursor_page(items: list[Json], query: dict[str, str], *, default_limit: int = 20) -> Json:
    """A `{"object": "list", "data", "has_more"}` page after the id named by `after`."""
    try:
        limit = int(query.get("limit") or default_limit)
    except ValueError as exc:
        raise OpenAIError(400, "Invalid 'limit': expected an integer.", param="limit") from exc
    if not 1 <= limit <= 10000:
        raise OpenAIError(400, f"Invalid 'limit': {limit} is out of range.", param="limit")
    if after := query.get("after"):
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    result: Json = {"object": "list", "data": page, "has_more": len(items) > limit}
    if page:
        result |= {"first_id": page[0]["id"], "last_id": page[-1]["id"]}
    return result


def body_of(payload: Any) -> Json:
    if not isinstance(payload, dict):
        raise OpenAIError(400, "We could not parse the JSON body of your request.")
    return payload


@dataclass
class StoredFile:
    meta: Json
    data: bytes


@dataclass
class State:
    """Everything the routes share; hold `lock` while reading or changing any of it."""

    organization: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    models: dict[str, Json] = field(default_factory=dict)
    unready: dict[str, int] = field(default_factory=dict)  # model -> chat calls still answered 404
    files: dict[str, StoredFile] = field(default_factory=dict)
    jobs: dict[str, Json] = field(default_factory=dict)
    events: dict[str, list[Json]] = field(default_factory=dict)  # job id -> oldest first
    checkpoints: dict[str, list[Json]] = field(default_factory=dict)  # job id -> oldest first
    trained_steps: dict[str, int] = field(default_factory=dict)  # job id -> steps reported so far
    chat_requests: list[Json] = field(default_factory=list)
    refusal: OpenAIError | None = None  # set by refuse_new_jobs()
    max_file_bytes: int = 512 * 1024 * 1024  # lower it to test the size check cheaply

    @property
    def org_slug(self) -> str:
        return self.organization.removeprefix("org-") or "org"
