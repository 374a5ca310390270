"""Together AI emulator: files, fine-tunes (/v1) and dedicated endpoints (/v2) on loopback.

Built from Together's OpenAPI reference and the `together` 3.x SDK's types: the file upload is
POST /v1/files -> 302 to storage (X-Together-File-Id) -> PUT -> POST /v1/files/{id}/preprocess;
errors are `{"error": {"message", "type", "param", "code"}}`. Tests drive jobs and deployments
explicitly with `advance_job`, `fail_job`, `succeed_job` and `set_deployment_state`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from emulators import together_endpoints, together_jobs
from emulators._support import random_id
from emulators._wire import Request, Response, json_response
from emulators.hosted import HostedEmulator, grpc_error

Json = dict[str, Any]


def together_error(status: int, message: str, code: str | None = None) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return json_response(body, status)


class TogetherError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class TogetherEmulator(HostedEmulator):
    """Fault route names: files, fine_tunes, endpoints, chat."""

    def __init__(
        self,
        *,
        api_key: str = "tgp_v1_emulator",
        base_models: tuple[str, ...] = ("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",),
        project_slug: str = "acme",
    ) -> None:
        super().__init__(api_key, together_error)
        self.lock = threading.RLock()
        self.base_models = set(base_models)
        # What /v2/supported-models states as each one's `contextLength` (Llama 3.1's window).
        self.context_length = 131072
        self.project = {"id": "proj_emulator", "name": "Default", "slug": project_slug}
        self.project["organization_id"] = "org_emulator"
        self.project["organization_name"] = "Emulated"
        self.files: dict[str, Json] = {}
        self.file_data: dict[str, bytes] = {}
        self.jobs: dict[str, Json] = {}
        self.events: dict[str, list[Json]] = {}
        self.metrics: dict[str, list[Json]] = {}
        self.endpoints: dict[str, Json] = {}  # id -> endpoint with full deployments inside
        self.price_cents_per_hour = 399  # 1x H100 80GB
        together_jobs.install(self)
        together_endpoints.install(self)
        self.route("POST", "/v1/chat/completions", "chat", self.chat)
        for model in base_models:
            self.serve_model(model)

    @property
    def base_url(self) -> str:
        """What a user copies from Together's docs (with /v1)."""
        return f"{self.origin}/v1"

    def guarded(self, handler: Any) -> Any:
        def run(request: Request) -> Any:
            try:
                with self.lock:
                    return copy.deepcopy(handler(request))
            except TogetherError as error:
                if request.path.startswith("/v2/"):
                    # The v2 services are grpc-gateway ones (operation ids such as
                    # EndpointService_UpdateEndpoint), with its error body.
                    return grpc_error(error.status, error.message)
                return together_error(error.status, error.message, error.code)

        return run

    def new_id(self, prefix: str) -> str:
        return random_id(prefix, 24, "0123456789abcdef")

    # -- test controls -----------------------------------------------------------------------

    def advance_job(self, job_id: str, status: str, *, step: int | None = None) -> None:
        together_jobs.advance(self, job_id, status, step=step)

    def succeed_job(self, job_id: str, *, steps: int = 4) -> None:
        together_jobs.succeed(self, job_id, steps=steps)

    def fail_job(self, job_id: str, message: str) -> None:
        together_jobs.fail(self, job_id, message)

    def set_deployment_state(self, endpoint_name: str, state: str, message: str = "") -> None:
        together_endpoints.set_state(self, endpoint_name, state, message)

    def endpoint_named(self, name: str) -> Json | None:
        with self.lock:
            found = [e for e in self.endpoints.values() if e["name"].endswith(f"/{name}")]
            return copy.deepcopy(found[0]) if found else None
