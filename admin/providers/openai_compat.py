"""OpenAI and OpenAI-compatible fine-tuning APIs (Azure OpenAI /openai/v1, Nebius) via the SDK."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import openai

from admin.providers import results, wire
from admin.providers.base import (
    ALL_CAPABILITIES,
    Checkpoint,
    JobEvent,
    JobSnapshot,
    MetricPoint,
    ModelInfo,
    NotReady,
    ProviderError,
    TrainRequest,
    Unsupported,
    UploadProgress,
)
from admin.providers.errors import error_code, provider_error
from admin.providers.plugin import Phase
from admin.providers.uploads import FILES_API_LIMIT, PART_SIZE, upload_file

__all__ = ["OpenAICompatibleProvider", "provider_error"]

PAGE = 100
RESULTS_LIMIT = 32 * 1024 * 1024  # a results CSV is small; anything bigger is not one
# How a chat with a model that is not servable yet fails: OpenAI for a fine-tune in its first
# minutes, Azure until a deployment of that name exists.
NOT_SERVED = frozenset({"model_not_found", "DeploymentNotFound"})


class StatusTable:
    """A provider's statuses -> phases; anything else is still in progress."""

    def __init__(self, table: Mapping[str, Phase]) -> None:
        self.table = dict(table)

    def get_phase(self, status: str) -> Phase:
        return self.table.get(status, Phase.ACTIVE)


# OpenAI's job statuses, as its API reference lists them (Nebius and Azure use the same).
OPENAI_PHASES = StatusTable(
    {
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
)


class OpenAICompatibleProvider:
    def __init__(
        self,
        client: openai.OpenAI,
        *,
        name: str = "openai",
        label: str = "OpenAI",
        phase: Callable[[str], Phase] = OPENAI_PHASES.get_phase,
        capabilities: Iterable[str] = ALL_CAPABILITIES,
        files_api_limit: int = FILES_API_LIMIT,
        part_size: int = PART_SIZE,
        token_limit_field: str = "max_completion_tokens",
    ) -> None:
        self.name = name
        self.label = label
        self._phase = phase
        self.token_limit_field = token_limit_field
        self.capabilities = frozenset(capabilities)
        self._client = client
        self._files_api_limit = files_api_limit
        self._part_size = part_size

    @contextlib.contextmanager
    def _asking(self, action: str) -> Iterator[None]:
        try:
            yield
        except openai.APIError as error:
            raise provider_error(error, action=action, provider=self.name) from error

    def _require(self, capability: str, doing: str) -> None:
        if capability not in self.capabilities:
            raise Unsupported(f"{self.label} cannot {doing}; this backend does not support it.")

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
                files_api_limit=self._files_api_limit,
                part_size=self._part_size,
            )

    def create_job(self, request: TrainRequest) -> JobSnapshot:
        with self._asking("create the fine-tuning job"):
            job = self._client.fine_tuning.jobs.create(**wire.create_arguments(request))
        return wire.snapshot(job, self._phase)

    def get_job(self, job_id: str) -> JobSnapshot:
        with self._asking(f"read fine-tuning job {job_id}"):
            return wire.snapshot(self._client.fine_tuning.jobs.retrieve(job_id), self._phase)

    def list_events(self, job_id: str, *, after: str | None = None) -> list[JobEvent]:
        self._require("events", "list a job's events")
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
            return wire.snapshot(self._client.fine_tuning.jobs.cancel(job_id), self._phase)

    def pause_job(self, job_id: str) -> JobSnapshot:
        self._require("pause", "pause a fine-tuning job")
        with self._asking(f"pause job {job_id}"):
            return wire.snapshot(self._client.fine_tuning.jobs.pause(job_id), self._phase)

    def resume_job(self, job_id: str) -> JobSnapshot:
        self._require("resume", "resume a paused fine-tuning job")
        with self._asking(f"resume job {job_id}"):
            return wire.snapshot(self._client.fine_tuning.jobs.resume(job_id), self._phase)

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        self._require("checkpoints", "list a job's checkpoints")
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
        if "events" not in self.capabilities:
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
            raise provider_error(error, action=f"reach {model}", provider=self.name) from error
        except openai.APIError as error:
            raise provider_error(error, action=f"reach {model}", provider=self.name) from error
        return True

    def model_info(self, model: str) -> ModelInfo:
        try:
            found = self._client.models.retrieve(model)
        except openai.NotFoundError:
            return ModelInfo(id=model, exists=False)
        except openai.APIError as error:
            raise provider_error(error, action=f"look up {model}", provider=self.name) from error
        # `shutdown_date` is newer than some SDK schemas; the dump keeps it either way.
        shutdown = found.model_dump().get("shutdown_date")
        return ModelInfo(id=found.id, exists=True, shutdown_date=wire.day(shutdown))
