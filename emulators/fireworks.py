"""Fireworks AI emulator: datasets, SFT and DPO jobs, deployments, chat at /inference/v1.

Built from Fireworks' gateway REST reference and the `fireworks-ai` SDK's types: resources live
under `/v1/accounts/{account}/...`, custom methods are `:upload`/`:cancel`, bodies are camelCase
and errors are gRPC-gateway's `{"code", "message", "details"}` with the matching HTTP status.
Tests move jobs and deployments with `set_job_state`, `succeed_job`, `fail_job`, `set_deployment`.
"""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime
from typing import Any

from emulators._support import random_id
from emulators._wire import Request, Response
from emulators.hosted import HostedEmulator, grpc_error

Json = dict[str, Any]
KINDS = {"supervisedFineTuningJobs": "supervisedFineTuningJobId", "dpoJobs": "dpoJobId"}


fireworks_error = grpc_error


class FireworksError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class FireworksEmulator(HostedEmulator):
    """Fault route names: datasets, jobs, deployments, chat."""

    def __init__(
        self,
        *,
        api_key: str = "fw_emulator",
        account: str = "acme",
        base_models: tuple[str, ...] = ("accounts/fireworks/models/llama-v3p1-8b-instruct",),
    ) -> None:
        super().__init__(api_key, fireworks_error)
        self.account = account
        self.lock = threading.RLock()
        self.base_models = set(base_models)
        self.datasets: dict[str, Json] = {}
        self.dataset_data: dict[str, bytes] = {}
        self.jobs: dict[str, Json] = {}  # full resource name -> job
        self.deployments: dict[str, Json] = {}  # deployment id -> deployment
        self._install()

    @property
    def base_url(self) -> str:
        return self.origin

    def _install(self) -> None:
        g, acct = self._guarded, "/v1/accounts/{account}"
        self.route("POST", f"{acct}/datasets/{{id}}:upload", "datasets", g(self._upload))
        self.route("POST", f"{acct}/datasets/{{id}}:getUploadEndpoint", "datasets", g(self._signed))
        self.route("POST", f"{acct}/datasets/{{id}}:validateUpload", "datasets", g(self._validate))
        self.router.add("PUT", "/storage/{id}/{filename}", self._put_signed)
        self.route("POST", f"{acct}/datasets", "datasets", g(self._create_dataset))
        self.route("GET", f"{acct}/datasets/{{id}}", "datasets", g(self._dataset))
        for kind in KINDS:
            self.route("POST", f"{acct}/{kind}/{{id}}:cancel", "jobs", g(self._cancel))
            self.route("POST", f"{acct}/{kind}", "jobs", g(self._create_job))
            self.route("GET", f"{acct}/{kind}/{{id}}", "jobs", g(self._job))
        self.route("POST", f"{acct}/deployments", "deployments", g(self._deploy))
        self.route("GET", f"{acct}/deployments", "deployments", g(self._deployments))
        self.route("GET", f"{acct}/deployments/{{id}}", "deployments", g(self._deployment))
        self.route("DELETE", f"{acct}/deployments/{{id}}", "deployments", g(self._undeploy))
        self.route("POST", "/inference/v1/chat/completions", "chat", self.chat)

    def _guarded(self, handler: Any) -> Any:
        def run(request: Request) -> Any:
            try:
                if request.params.get("account") != self.account:
                    raise FireworksError(403, f"permission denied for account {request.params}")
                with self.lock:
                    return copy.deepcopy(handler(request))
            except FireworksError as error:
                return fireworks_error(error.status, error.message)

        return run

    def _name(self, kind: str, resource_id: str) -> str:
        return f"accounts/{self.account}/{kind}/{resource_id}"

    # -- datasets ----------------------------------------------------------------------------

    def _create_dataset(self, request: Request) -> Json:
        body = request.json() or {}
        dataset_id = str(body.get("datasetId") or "")
        if not dataset_id:
            raise FireworksError(400, "dataset_id is required")
        if dataset_id in self.datasets:
            raise FireworksError(
                409, f"dataset {self._name('datasets', dataset_id)} already exists"
            )
        fields = body.get("dataset") or {}
        self.datasets[dataset_id] = fields | {
            "name": self._name("datasets", dataset_id),
            "state": "UPLOADING",
            "createTime": _now(),
            "format": fields.get("format", "CHAT"),
        }
        return self.datasets[dataset_id]

    def _dataset(self, request: Request) -> Json:
        found = self.datasets.get(request.params["id"])
        if found is None:
            raise FireworksError(404, f"dataset {request.params['id']} not found")
        return found

    def _upload(self, request: Request) -> Json:
        found = self._dataset(request)
        part = request.multipart().get("file")
        if part is None or not part.data.strip():
            raise FireworksError(400, "the uploaded file is empty")
        self.dataset_data[request.params["id"]] = part.data
        found["state"] = "READY"
        return {"filenameToSignedUrls": {}}

    def _signed(self, request: Request) -> Json:
        """Signed storage URLs (no API key, as GCS's are not Fireworks')."""
        self._dataset(request)
        sizes = (request.json() or {}).get("filenameToSize") or {}
        if not sizes:
            raise FireworksError(400, "filename_to_size is required")
        base = f"{self.origin}/storage/{request.params['id']}"
        return {"filenameToSignedUrls": {name: f"{base}/{name}" for name in sizes}}

    def _put_signed(self, request: Request) -> Response:
        with self.lock:
            if request.params["id"] not in self.datasets:
                return Response(404, b"NoSuchKey")
            self.dataset_data[request.params["id"]] = request.body
        return Response(200, b"")

    def _validate(self, request: Request) -> Json:
        found = self._dataset(request)
        if not self.dataset_data.get(request.params["id"], b"").strip():
            raise FireworksError(400, "no file was uploaded to the dataset")
        found["state"] = "READY"
        return {}

    # -- jobs --------------------------------------------------------------------------------

    def _create_job(self, request: Request) -> Json:
        kind = request.path.rsplit("/", 1)[-1]
        body = request.json() or {}
        config = body.get("trainingConfig") or body
        dataset = str(body.get("dataset") or "").rsplit("/", 1)[-1]
        if self.datasets.get(dataset, {}).get("state") != "READY":
            raise FireworksError(400, f"dataset {body.get('dataset')} is not ready or not found")
        if config.get("baseModel") not in self.base_models:
            raise FireworksError(
                400, f"base model {config.get('baseModel')} is not supported for fine-tuning"
            )
        job_id = request.query.get(KINDS[kind]) or random_id(
            "", 20, "abcdefghijkmnpqrstuvwxyz0123456789"
        )
        name = self._name(kind, job_id)
        output = config.get("outputModel") or self._name("models", job_id)
        job = body | {
            "name": name,
            "state": "JOB_STATE_CREATING",
            "createTime": _now(),
            "updateTime": _now(),
            "createdBy": "emulator@example.com",
        }
        if "trainingConfig" in body:
            job["trainingConfig"] = config | {"outputModel": output}
        else:
            job["outputModel"] = output
        self.jobs[name] = job
        return job

    def _job(self, request: Request) -> Json:
        kind = request.path.split("/")[-2]
        name = self._name(kind, request.params["id"])
        if name not in self.jobs:
            raise FireworksError(404, f"job {name} not found")
        return self.jobs[name]

    def _cancel(self, request: Request) -> Json:
        job = self._job(request)
        if job["state"] not in ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED"):
            job["state"], job["updateTime"] = "JOB_STATE_CANCELLED", _now()
        return {}

    # -- deployments -------------------------------------------------------------------------

    def _deploy(self, request: Request) -> Json:
        body = request.json() or {}
        deployment_id = request.query.get("deploymentId") or random_id("", 8, "abcdef0123456789")
        if deployment_id in self.deployments:
            raise FireworksError(409, f"deployment {deployment_id} already exists")
        model = str(body.get("baseModel") or "")
        trained = {self._output(j): j for j in self.jobs.values()}
        if (
            model not in self.base_models
            and trained.get(model, {}).get("state") != "JOB_STATE_COMPLETED"
        ):
            raise FireworksError(404, f"model {model} not found")
        self.deployments[deployment_id] = body | {
            "name": self._name("deployments", deployment_id),
            "state": "CREATING",
            "createTime": _now(),
            "acceleratorType": "NVIDIA_H100_80GB",
            "acceleratorCount": 1,
            "status": {"code": "OK", "message": ""},
        }
        return self.deployments[deployment_id]

    def _output(self, job: Json) -> str:
        return str((job.get("trainingConfig") or job).get("outputModel"))

    def _deployments(self, request: Request) -> Json:
        live = [d for d in self.deployments.values() if d["state"] != "DELETED"]
        return {"deployments": live, "nextPageToken": "", "totalSize": len(live)}

    def _deployment(self, request: Request) -> Json:
        found = self.deployments.get(request.params["id"])
        if found is None or found["state"] == "DELETED":
            raise FireworksError(404, f"deployment {request.params['id']} not found")
        return found

    def _undeploy(self, request: Request) -> Json:
        found = self._deployment(request)
        found["state"] = "DELETED"
        self.stop_serving(found["baseModel"])
        return {}

    # -- test controls -----------------------------------------------------------------------

    def set_job_state(self, name: str, state: str, *, percent: int | None = None) -> None:
        with self.lock:
            job = self.jobs[name]
            job["state"], job["updateTime"] = state, _now()
            if percent is not None and "dpoJobs" not in name:
                job["jobProgress"] = {"percent": percent, "epoch": 1}

    def succeed_job(self, name: str) -> None:
        self.set_job_state(name, "JOB_STATE_RUNNING", percent=50)
        self.set_job_state(name, "JOB_STATE_COMPLETED", percent=100)
        with self.lock:
            self.jobs[name]["completedTime"] = _now()

    def fail_job(self, name: str, message: str) -> None:
        with self.lock:
            self.jobs[name]["status"] = {"code": "INVALID_ARGUMENT", "message": message}
        self.set_job_state(name, "JOB_STATE_FAILED")

    def set_deployment(self, deployment_id: str, state: str, message: str = "") -> None:
        """READY makes its model answer chats at /inference/v1."""
        with self.lock:
            found = self.deployments[deployment_id]
            found["state"] = state
            found["status"] = {
                "code": "OK" if state != "FAILED" else "INTERNAL",
                "message": message,
            }
        if state == "READY":
            self.serve_model(found["baseModel"])
        else:
            self.stop_serving(found["baseModel"])
