"""`OpenAICompatible`: the calls of any fine-tuning API that speaks OpenAI's routes, via the SDK.

A provider whose API is OpenAI's (OpenAI, Azure OpenAI's /openai/v1, Nebius, any compatible
server) subclasses this and declares only what differs: name, label, `Settings` (with
`api_key` and `base_url` fields), `Options`, capabilities. Its `Options` field aliases are the
hyperparameter names the API takes (`lr=` -> `learning_rate_multiplier` or `learning_rate`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import openai

from admin.providers import results, wire
from admin.providers.base import (
    Checkpoint,
    JobEvent,
    JobSnapshot,
    MetricPoint,
    ModelInfo,
    NotReady,
    ProviderError,
    TrainRequest,
    UploadProgress,
)
from admin.providers.errors import error_code, provider_error
from admin.providers.plugin import Capability, ChatEndpoint, Phase, Provider
from admin.providers.settings import secret
from admin.providers.uploads import FILES_API_LIMIT, PART_SIZE, upload_file

PAGE = 100
RESULTS_LIMIT = 32 * 1024 * 1024  # a results CSV is small; anything bigger is not one
# How a chat with a model that is not servable yet fails: OpenAI for a fine-tune in its first
# minutes, Azure until a deployment of that name exists.
NOT_SERVED = frozenset({"model_not_found", "DeploymentNotFound"})
# Model metadata fields that state a context window, as compatible servers name them.
_WINDOW_FIELDS = ("context_window", "context_length", "max_model_len")

# OpenAI's job statuses, as its API reference lists them (Nebius and Azure use the same).
OPENAI_STATUSES: Mapping[str, Phase] = {
    "validating_files": Phase.ACTIVE,
    "queued": Phase.ACTIVE,
    "running": Phase.ACTIVE,
    "pausing": Phase.ACTIVE,
    "paused": Phase.ACTIVE,
    "succeeded": Phase.SUCCEEDED,
    "failed": Phase.FAILED,
    "cancelled": Phase.CANCELLED,
    "canceled": Phase.CANCELLED,
}


class OpenAICompatible(Provider):
    statuses: ClassVar[Mapping[str, Phase]] = OPENAI_STATUSES
    # OpenAI and Azure take `max_completion_tokens`; most compatible servers `max_tokens`.
    token_limit_field: ClassVar[str] = "max_tokens"
    files_api_limit: ClassVar[int] = FILES_API_LIMIT
    part_size: ClassVar[int] = PART_SIZE

    def __init__(self, settings: Any, context: Any) -> None:
        super().__init__(settings, context)
        self._client = openai.OpenAI(
            api_key=secret(settings.api_key) or "unset",
            base_url=settings.base_url,
            max_retries=2,
            timeout=120.0,  # uploads of large training files
        )

    def chat_endpoint(self) -> ChatEndpoint:
        return ChatEndpoint(
            self.settings.base_url,  # type: ignore[attr-defined]
            secret(self.settings.api_key),  # type: ignore[attr-defined]
            token_limit_field=self.token_limit_field,
        )

    @contextlib.contextmanager
    def _asking(self, action: str) -> Iterator[None]:
        try:
            yield
        except openai.APIError as error:
            raise provider_error(error, action=action, label=self.label) from error

    # -- files and jobs ----------------------------------------------------------------------

    def upload_training_file(
        self, path: Path, *, filename: str, progress: UploadProgress | None = None
    ) -> str:
        with self._asking("upload the file"):
            return upload_file(
                self._client,
                path,
                filename=filename,
                progress=progress,
                files_api_limit=self.files_api_limit,
                part_size=self.part_size,
            )

    def create_job(self, request: TrainRequest) -> JobSnapshot:
        with self._asking("create the fine-tuning job"):
            job = self._client.fine_tuning.jobs.create(**wire.create_arguments(request))
        return wire.snapshot(job, self.phase)

    def get_job(self, job_id: str) -> JobSnapshot:
        with self._asking(f"read fine-tuning job {job_id}"):
            return wire.snapshot(self._client.fine_tuning.jobs.retrieve(job_id), self.phase)

    def list_events(self, job_id: str, *, after: str | None = None) -> list[JobEvent]:
        if Capability.EVENTS not in self.capabilities:
            return super().list_events(job_id, after=after)
        newest_first: list[JobEvent] = []
        # The API lists newest first and its `after` cursor walks toward older events, so
        # "what is new since X" means reading from the top until X turns up.
        with self._asking(f"list the events of job {job_id}"):
            for item in self._client.fine_tuning.jobs.list_events(job_id, limit=PAGE):
                if after is not None and item.id == after:
                    break
                newest_first.append(wire.event(item))
        return newest_first[::-1]

    def cancel_job(self, job_id: str) -> JobSnapshot:
        with self._asking(f"cancel job {job_id}"):
            return wire.snapshot(self._client.fine_tuning.jobs.cancel(job_id), self.phase)

    def pause_job(self, job_id: str) -> JobSnapshot:
        if Capability.PAUSE not in self.capabilities:
            return super().pause_job(job_id)
        with self._asking(f"pause job {job_id}"):
            return wire.snapshot(self._client.fine_tuning.jobs.pause(job_id), self.phase)

    def resume_job(self, job_id: str) -> JobSnapshot:
        if Capability.RESUME not in self.capabilities:
            return super().resume_job(job_id)
        with self._asking(f"resume job {job_id}"):
            return wire.snapshot(self._client.fine_tuning.jobs.resume(job_id), self.phase)

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        if Capability.CHECKPOINTS not in self.capabilities:
            return super().list_checkpoints(job_id)
        with self._asking(f"list the checkpoints of job {job_id}"):
            pages = self._client.fine_tuning.jobs.checkpoints.list(job_id, limit=PAGE)
            found = [wire.checkpoint(item) for item in pages]
        return sorted(found, key=lambda c: c.step)

    def metrics(self, job: JobSnapshot) -> list[MetricPoint]:
        for file_id in job.result_files:
            with self._asking(f"read the results of job {job.id}"):
                raw = self._results_file(file_id)
            points = results.parse_results_file(raw) if raw else []
            if points:
                return points
        if Capability.EVENTS not in self.capabilities:
            return []
        return results.points_from_events(self.list_events(job.id))

    def _results_file(self, file_id: str) -> bytes | None:
        try:
            meta = self._client.files.retrieve(file_id)
            if meta.bytes and meta.bytes > RESULTS_LIMIT:
                return None  # some providers list checkpoint weights among result files
            return self._client.files.content(file_id).content
        except openai.NotFoundError:
            return None  # results files can be deleted; the events remain

    # -- models ------------------------------------------------------------------------------

    def make_callable(self, job: JobSnapshot) -> str:
        self._require_trained(job)
        if not job.fine_tuned_model:
            raise ProviderError(f"{self.label} finished job {job.id} but named no model.")
        return job.fine_tuned_model

    def _require_trained(self, job: JobSnapshot) -> None:
        if job.phase == Phase.ACTIVE:
            raise NotReady(f"Fine-tuning job {job.id} is still {job.status.replace('_', ' ')}.")
        if job.phase != Phase.SUCCEEDED:
            raise ProviderError(f"Fine-tuning job {job.id} {job.phase}; there is no model to use.")

    def is_answering(self, model: str) -> bool:
        try:
            self._client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "Hi"}],
                extra_body={self.token_limit_field: 1},
            )
        except openai.NotFoundError as error:
            if error_code(error) in NOT_SERVED:
                return False
            raise provider_error(error, action=f"reach {model}", label=self.label) from error
        except openai.APIError as error:
            raise provider_error(error, action=f"reach {model}", label=self.label) from error
        return True

    def model_info(self, model: str) -> ModelInfo:
        try:
            found = self._client.models.retrieve(model)
        except openai.NotFoundError:
            return ModelInfo(id=model, exists=False)
        except openai.APIError as error:
            raise provider_error(error, action=f"look up {model}", label=self.label) from error
        # `shutdown_date` is newer than some SDK schemas; the dump keeps it either way.
        dumped = found.model_dump()
        window = next((dumped[k] for k in _WINDOW_FIELDS if isinstance(dumped.get(k), int)), None)
        return ModelInfo(
            id=found.id,
            exists=True,
            shutdown_date=wire.day(dumped.get("shutdown_date")),
            context_window=window,
        )
