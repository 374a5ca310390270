"""Front door of the emulated OpenAI API: the API-key check, injected faults and the route table."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulators import openai_files as files
from emulators import openai_jobs as jobs
from emulators import openai_models as catalogue
from emulators._http import Router
from emulators._support import FaultQueue
from emulators._wire import Request, Response
from emulators.openai_custom import CustomModels
from emulators.openai_state import OpenAIError, State, reply
from emulators.openai_uploads import UploadStore

Route = Callable[[Request], Any]
KEYS_PAGE = "https://platform.openai.com/account/api-keys"
SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"


@dataclass(frozen=True)
class Fault:
    status: int
    code: str | None
    message: str | None
    retry_after: float | None
    delay: float | None


class Gateway:
    """Wraps every route: check the key, maybe fail as armed, run it, shape errors like OpenAI."""

    def __init__(self, router: Router, api_key: str) -> None:
        self.router = router
        self.api_key = api_key
        self.faults: FaultQueue[Fault] = FaultQueue()

    def add(
        self, method: str, pattern: str, name: str, route: Route, before: Route | None = None
    ) -> None:
        def run(request: Request) -> Response:
            try:
                self.authorize(request)
                if before is not None:
                    before(request)
                self.inject(name)
                result = route(request)
                return result if isinstance(result, Response) else reply(result)
            except OpenAIError as error:
                return error.response()

        self.router.add(method, pattern, run)

    def authorize(self, request: Request) -> None:
        key = request.bearer()
        if key is None:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            raise OpenAIError(401, message)
        if key != self.api_key:
            # Like OpenAI, show only enough of the key to recognise it.
            masked = key[:3] + "*" * max(4, len(key) - 7) + key[-4:] if len(key) > 8 else "****"
            message = (
                f"Incorrect API key provided: {masked}. You can find your API key at {KEYS_PAGE}."
            )
            raise OpenAIError(401, message, code="invalid_api_key")

    def inject(self, name: str) -> None:
        fault = self.faults.pop(name)
        if fault is None:
            return
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status < 400:
            return
        headers = {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
        if fault.status == 429:
            code = fault.code or "rate_limit_exceeded"
            kind = "insufficient_quota" if code == "insufficient_quota" else "requests"
            message = fault.message or "Rate limit reached for requests per min (RPM)."
            raise OpenAIError(429, message, type=kind, code=code, headers=headers)
        if fault.status >= 500:
            message = fault.message or SERVER_ERROR
            raise OpenAIError(
                fault.status, message, type="server_error", code=fault.code, headers=headers
            )
        message = fault.message or "Injected failure."
        raise OpenAIError(fault.status, message, code=fault.code, headers=headers)


def install(
    gateway: Gateway,
    s: State,
    chat: Route,
    chat_record: Route,
    uploads: UploadStore,
    custom: CustomModels,
) -> None:
    """Every path the emulator serves, each under the short name its faults are armed by."""
    add = gateway.add
    add("POST", "/v1/chat/completions", "chat", chat, before=chat_record)
    add("GET", "/v1/models", "models", lambda r: catalogue.list_models(s, r))
    add("GET", "/v1/models/{model:path}", "models", lambda r: catalogue.retrieve_model(s, r))
    add("DELETE", "/v1/models/{model:path}", "models", lambda r: catalogue.delete_model(s, r))
    add("POST", "/v1/files", "files", lambda r: files.create(s, r))
    add("GET", "/v1/files", "files", lambda r: files.list_files(s, r))
    add("GET", "/v1/files/{file_id}", "files", lambda r: files.retrieve(s, r))
    add("GET", "/v1/files/{file_id}/content", "files", lambda r: files.content(s, r))
    add("DELETE", "/v1/files/{file_id}", "files", lambda r: files.delete(s, r))
    add("POST", "/v1/uploads", "uploads", uploads.create)
    add("POST", "/v1/uploads/{upload_id}/parts", "uploads", uploads.add_part)
    add("POST", "/v1/uploads/{upload_id}/complete", "uploads", uploads.complete)
    add("POST", "/v1/uploads/{upload_id}/cancel", "uploads", uploads.cancel)
    job = "/v1/fine_tuning/jobs/{job_id}"
    add("POST", "/v1/fine_tuning/jobs", "fine_tuning", lambda r: jobs.create(s, r))
    add("GET", "/v1/fine_tuning/jobs", "fine_tuning", lambda r: jobs.list_jobs(s, r))
    add("GET", job, "fine_tuning", lambda r: jobs.retrieve(s, r))
    add("POST", f"{job}/cancel", "fine_tuning", lambda r: jobs.cancel(s, r))
    add("POST", f"{job}/pause", "fine_tuning", lambda r: jobs.pause(s, r))
    add("POST", f"{job}/resume", "fine_tuning", lambda r: jobs.resume(s, r))
    add("GET", f"{job}/events", "fine_tuning", lambda r: jobs.list_events(s, r))
    add("GET", f"{job}/checkpoints", "fine_tuning", lambda r: jobs.list_checkpoints(s, r))
    add("POST", "/v0/models", "custom_models", custom.create)
    add("GET", "/v0/models/{name:path}", "custom_models", custom.retrieve)


def invalid_url(request: Request) -> Response:
    return OpenAIError(404, f"Invalid URL ({request.method} {request.path})").response()


def internal_error() -> Response:
    return OpenAIError(500, SERVER_ERROR, type="server_error").response()
