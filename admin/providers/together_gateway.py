"""Together AI fine-tuning through the official `together` SDK: files, jobs, events, metrics."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import together

from admin.providers.base import (
    Checkpoint,
    Deployment,
    JobEvent,
    JobSnapshot,
    MetricPoint,
    ModelInfo,
    TrainRequest,
    Unsupported,
    UploadProgress,
)
from admin.providers.hosted import asking, require_trained
from admin.providers.plugin import Phase
from admin.providers.together_endpoints import TogetherEndpoints
from admin.providers.together_wire import event, snapshot, when

ERRORS: tuple[type[Exception], ...] = (together.TogetherError,)  # API errors, bad files
LABEL = "Together AI"


class TogetherGateway:
    """`FineTuneProvider` and `Deployments` for Together AI."""

    def __init__(
        self,
        client: together.Together,
        *,
        phase: Callable[[str], Phase],
        capabilities: frozenset[str],
        project_id: str | None = None,
        name: str = "together",
    ) -> None:
        self.name = name
        self.label = LABEL
        self.capabilities = capabilities
        self._client = client
        self._phase = phase
        self.endpoints = TogetherEndpoints(client, project_id=project_id)

    def _asking(self, action: str) -> Any:
        return asking(ERRORS, label=LABEL, action=action)

    # -- files and jobs ----------------------------------------------------------------------

    def upload_training_file(
        self, path: Path, *, filename: str, progress: UploadProgress | None = None
    ) -> str:
        def report(event: Any) -> None:
            if progress is not None:
                progress(int(event.uploaded_bytes), int(event.total_bytes))

        # The SDK names the upload after the file on disk and wants a .jsonl suffix.
        name = filename if filename.endswith(".jsonl") else f"{filename}.jsonl"
        with tempfile.TemporaryDirectory() as folder, self._asking("upload the file"):
            staged = Path(folder) / Path(name).name
            try:
                staged.hardlink_to(path)
            except OSError:
                shutil.copyfile(path, staged)
            uploaded = self._client.files.upload(
                file=staged, purpose="fine-tune", check=True, progress_callback=report
            )
        return str(uploaded.id)

    def create_job(self, request: TrainRequest) -> JobSnapshot:
        extra = dict(request.extra)
        if request.learning_rate_multiplier is not None:
            raise Unsupported(
                f"{LABEL} takes an absolute learning rate (`lr=0.00001`), not a multiplier."
            )
        arguments: dict[str, Any] = {
            "training_file": request.training_file,
            "model": request.model,
            "training_method": "dpo" if request.method == "dpo" else "sft",
            "lora": extra.pop("lora", "lora") != "full",
        }
        optional = {
            "n_epochs": request.epochs,
            "validation_file": request.validation_file,
            "learning_rate": request.learning_rate,
            "batch_size": request.batch_size,
            "suffix": request.suffix,
            "random_seed": request.seed,
            "dpo_beta": request.beta,
            "n_evals": 1 if request.validation_file else None,
            "train_on_inputs": "auto" if request.method != "dpo" else None,
            **extra,
        }
        arguments |= {key: value for key, value in optional.items() if value is not None}
        with self._asking("create the fine-tuning job"):
            job = self._client.fine_tuning.create(**arguments)
        # The SDK's create returns its own older model; the retrieved job has every field.
        return self.get_job(str(job.id))

    def get_job(self, job_id: str) -> JobSnapshot:
        with self._asking(f"read fine-tuning job {job_id}"):
            job = self._client.fine_tuning.retrieve(job_id)
        found = snapshot(job, self._phase)
        if found.phase == Phase.FAILED and not found.error_message:
            # Together puts a failure's reason in the job's `job_error` event.
            errors = [e for e in self.list_events(job_id) if e.level == "error"]
            if errors:
                return replace(found, error_message=errors[-1].message)
        return found

    def list_events(self, job_id: str, *, after: str | None = None) -> list[JobEvent]:
        with self._asking(f"list the events of job {job_id}"):
            found = self._client.fine_tuning.list_events(job_id).data
        # Together's events carry no id; they are append-only, so the position is one.
        events = [event(index, item) for index, item in enumerate(found)]
        if after is not None and after.startswith("ev-") and after[3:].isdigit():
            return events[int(after[3:]) + 1 :]
        return events

    def cancel_job(self, job_id: str) -> JobSnapshot:
        with self._asking(f"cancel job {job_id}"):
            self._client.fine_tuning.cancel(job_id)
        return self.get_job(job_id)

    def pause_job(self, job_id: str) -> JobSnapshot:
        raise Unsupported(f"{LABEL} cannot pause a fine-tuning job; cancel it instead.")

    def resume_job(self, job_id: str) -> JobSnapshot:
        raise Unsupported(f"{LABEL} cannot resume a fine-tuning job.")

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        with self._asking(f"list the checkpoints of job {job_id}"):
            found = self._client.fine_tuning.list_checkpoints(job_id).data
        points = [
            Checkpoint(
                id=f"{job_id}:{item.step}",
                step=int(item.step),
                model=item.object_name or item.path,
                metrics={},
                created_at=when(item.created_at),
            )
            for item in found
        ]
        return sorted(points, key=lambda c: c.step)

    def metrics(self, job: JobSnapshot) -> list[MetricPoint]:
        with self._asking(f"read the metrics of job {job.id}"):
            rows = self._client.fine_tuning.list_metrics(job.id).metrics or []
        by_step: dict[int, MetricPoint] = {}
        for row in rows:
            step = row.get("global_step", row.get("step"))
            loss = row.get("train_loss", row.get("loss"))
            if step is None or loss is None:
                continue
            valid = row.get("eval_loss", row.get("valid_loss"))
            by_step[int(step)] = MetricPoint(int(step), float(loss), valid)
        return [by_step[s] for s in sorted(by_step)]

    # -- models ------------------------------------------------------------------------------

    def make_callable(self, job: JobSnapshot) -> str:
        require_trained(job, LABEL)
        registered = str(job.hyperparameters.get("model_object_id") or "")
        return self.endpoints.ensure(job.id, registered)

    def is_answering(self, model: str) -> bool:
        try:
            self._client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=1
            )
        except together.NotFoundError:
            return False
        except ERRORS as error:
            with self._asking(f"reach {model}"):
                raise error
        return True

    def model_info(self, model: str) -> ModelInfo:
        if self.endpoints.find_by_model(model) is not None:
            return ModelInfo(id=model, exists=True)
        with self._asking(f"look up {model}"):
            try:
                self._client.models.retrieve_supported(model)
            except together.NotFoundError:
                return ModelInfo(id=model, exists=False)
        return ModelInfo(id=model, exists=True)

    # -- deployments (Deployments protocol) --------------------------------------------------

    def deployment_quote(self, job: JobSnapshot) -> float | None:
        return self.endpoints.quote(str(job.hyperparameters.get("model_object_id") or ""))

    def hourly_cost(self, model: str) -> float | None:
        return self.endpoints.hourly_cost(model)

    def undeploy(self, model: str) -> bool:
        return self.endpoints.remove(model)

    def list_deployments(self) -> list[Deployment]:
        return self.endpoints.listing()
