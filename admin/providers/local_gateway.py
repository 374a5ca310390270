"""The `local` provider's gateway: jobs are rows the trainer claims; models are vLLM adapters.

The fine-tuning "API" is tunebot's own `training_runs` table (written here, worked by
`tunebot trainer`), so every FineTuneProvider call is a read or a guarded write in the
database. A finished adapter is served by loading it into the team's vLLM server at runtime.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from admin.datastore import DatasetStore
from admin.providers import results
from admin.providers.base import (
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
from admin.providers.local_options import LocalOptions
from admin.providers.plugin import Phase
from admin.providers.vllm_api import Unreachable, VllmRefusal, VllmServer
from storage import training_repo as repo
from storage.models import TrainingRun, utcnow

PREFIX = "local-"


class LocalProvider:
    def __init__(
        self,
        *,
        session_factory: Any,
        data_dir: Path,
        model_dir: Path,
        vllm: VllmServer,
        vllm_model_dir: str,
        phase: Callable[[str], Phase],
        name: str = "local",
        label: str = "Local trainer (vLLM)",
    ) -> None:
        self.name = name
        self.label = label
        self.capabilities = frozenset({"events", "checkpoints"})
        self._sessions = session_factory
        self._store = DatasetStore(data_dir)
        self._model_dir = model_dir
        self._vllm = vllm
        self._vllm_model_dir = vllm_model_dir.rstrip("/")
        self._phase = phase

    # -- files and jobs ----------------------------------------------------------------------

    def upload_training_file(
        self, path: Path, *, filename: str, progress: UploadProgress | None = None
    ) -> str:
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
        sha = digest.hexdigest()
        self._store.put(path, sha)
        if progress is not None:
            size = path.stat().st_size
            progress(size, size)
        return sha

    def create_job(self, request: TrainRequest) -> JobSnapshot:
        self._require_served(request.model)
        for sha in filter(None, (request.training_file, request.validation_file)):
            if not self._store.has(sha):
                raise ProviderError(f"The dataset {sha[:12]}… is not in tunebot's dataset store.")
        options = LocalOptions.resolve(
            {
                "epochs": request.epochs,
                "learning_rate": request.learning_rate,
                "batch_size": request.batch_size,
                "seed": request.seed,
                "beta": request.beta,
                "method": request.method,
                **dict(request.extra),
            }
        )
        with self._sessions.begin() as session:
            run = repo.queue_run(
                session,
                values={
                    "base_model": request.model,
                    "method": request.method,
                    "dataset_sha256": request.training_file,
                    "validation_sha256": request.validation_file,
                    "options": options.to_json(),
                    "adapter_name": adapter_name(request.suffix),
                },
            )
            return self._snapshot(run)

    def _require_served(self, model: str) -> None:
        try:
            served = self._vllm.base_models()
        except Unreachable as failure:
            raise ProviderError(
                f"Cannot reach the vLLM server at {self._vllm.base_url} ({failure}) to check "
                f"that it serves `{model}`; start it before training."
            ) from None
        except VllmRefusal as refusal:
            raise ProviderError(f"The vLLM server refused: {refusal.message}") from None
        names = {str(m.get("id")) for m in served} | {str(m.get("root")) for m in served}
        if model not in names:
            listed = ", ".join(f"`{m.get('id')}`" for m in served) or "nothing"
            raise ProviderError(
                f"The vLLM server serves {listed}, not `{model}`: an adapter only works on "
                "the base model it was trained from. Train with `model=` set to the served model."
            )

    def get_job(self, job_id: str) -> JobSnapshot:
        with self._sessions.begin() as session:
            repo.fail_abandoned(session, now=utcnow())  # no run stays "running" forever
            return self._snapshot(self._run(session, job_id))

    def list_events(self, job_id: str, *, after: str | None = None) -> list[JobEvent]:
        with self._sessions() as session:
            run = self._run(session, job_id)
            since = int(after) if after and after.isdigit() else None
            return [
                JobEvent(
                    id=str(e.id),
                    created_at=e.created_at,
                    level=e.level,
                    message=e.message,
                    type=e.type,
                    data=dict(e.data or {}),
                )
                for e in repo.events(session, run_id=run.id, after=since)
            ]

    def cancel_job(self, job_id: str) -> JobSnapshot:
        with self._sessions.begin() as session:
            run = self._run(session, job_id)
            repo.request_cancel(session, run_id=run.id)
        return self.get_job(job_id)

    def pause_job(self, job_id: str) -> JobSnapshot:
        raise Unsupported(f"{self.label} cannot pause a job; cancel it and train again instead.")

    def resume_job(self, job_id: str) -> JobSnapshot:
        raise Unsupported(f"{self.label} cannot pause, so there is nothing to resume.")

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        found: dict[int, Checkpoint] = {}
        for event in self.list_events(job_id):
            if event.type != "checkpoint" or not Path(str(event.data.get("path"))).is_dir():
                continue  # the trainer keeps the last few; older ones are deleted
            step = int(event.data.get("step") or 0)
            found[step] = Checkpoint(
                id=f"checkpoint-{step}",
                step=step,
                model=None,
                metrics={},
                created_at=event.created_at,
            )
        return [found[step] for step in sorted(found)]

    def metrics(self, job: JobSnapshot) -> list[MetricPoint]:
        return results.points_from_events(self.list_events(job.id))

    # -- models ------------------------------------------------------------------------------

    def make_callable(self, job: JobSnapshot) -> str:
        if job.phase == Phase.ACTIVE:
            raise NotReady(f"Training job {job.id} is still {job.status}.")
        if job.phase != Phase.SUCCEEDED or not job.fine_tuned_model:
            raise ProviderError(f"Training job {job.id} {job.phase}; there is no adapter to serve.")
        name = job.fine_tuned_model
        self._load(name)
        if not self.is_answering(name):
            raise NotReady(f"vLLM loaded `{name}` but it does not answer yet.")
        return name

    def ensure_loaded(self, model: str) -> bool:
        """After a vLLM restart: load `model` again if it is one of ours. False when its folder
        is gone (serve something else); NotReady while vLLM is down."""
        try:
            listed = {str(m.get("id")) for m in self._vllm.models()}
        except Unreachable as failure:
            raise NotReady(
                f"The vLLM server at {self._vllm.base_url} is down ({failure})."
            ) from None
        if model in listed:
            return True
        if not (self._model_dir / model / "adapter_config.json").is_file():
            return False
        self._load(model)
        return True

    def _load(self, name: str) -> None:
        path = f"{self._vllm_model_dir}/{name}"
        try:
            self._vllm.load_adapter(name, path)
        except Unreachable as failure:
            raise NotReady(
                f"The vLLM server at {self._vllm.base_url} is not reachable ({failure}); "
                f"`{name}` will be loaded when it is."
            ) from None
        except VllmRefusal as refusal:
            if "already been loaded" in refusal.message:
                return  # another scheduler, or our previous tick, loaded it
            if "max_lora_rank" in refusal.message:
                raise ProviderError(
                    f"vLLM refused the adapter `{name}`: {refusal.message} Start vLLM with a "
                    "larger `--max-lora-rank`, or train with a smaller `lora_r=`."
                ) from None
            if refusal.status == 404:
                raise ProviderError(
                    f"vLLM found no adapter at {path}: {refusal.message} The server must see "
                    "the trainer's adapter folder there (TUNEBOT_VLLM_MODEL_DIR)."
                ) from None
            raise ProviderError(f"vLLM refused the adapter `{name}`: {refusal.message}") from None

    def is_answering(self, model: str) -> bool:
        try:
            self._vllm.chat(model, "Hi", 1)
        except Unreachable:
            return False
        except VllmRefusal as refusal:
            if refusal.status == 404:
                return False
            raise ProviderError(
                f"vLLM could not answer with `{model}`: {refusal.message}"
            ) from None
        return True

    def model_info(self, model: str) -> ModelInfo:
        try:
            listed = {str(m.get("id")) for m in self._vllm.models()}
        except (Unreachable, VllmRefusal) as failure:
            raise ProviderError(f"Could not list the vLLM server's models: {failure}") from None
        local = (self._model_dir / model / "adapter_config.json").is_file()
        return ModelInfo(id=model, exists=model in listed or local)

    # -- rows -> snapshots --------------------------------------------------------------------

    def _run(self, session: Any, job_id: str) -> TrainingRun:
        key = job_id.removeprefix(PREFIX)
        run = repo.get_run(session, run_id=int(key)) if key.isdigit() else None
        if run is None:
            raise ProviderError(f"There is no local training job {job_id}.", status=404)
        return run

    def _snapshot(self, run: TrainingRun) -> JobSnapshot:
        progress = dict(run.progress or {})
        eta = progress.get("eta_seconds")
        finish = None
        if run.status == repo.RunStatus.RUNNING and isinstance(eta, int | float):
            finish = utcnow() + timedelta(seconds=float(eta))
        failed = run.status == repo.RunStatus.FAILED
        return JobSnapshot(
            id=f"{PREFIX}{run.id}",
            status=str(run.status),
            model=run.base_model,
            fine_tuned_model=run.adapter_name if run.status == repo.RunStatus.SUCCEEDED else None,
            created_at=run.created_at,
            finished_at=run.finished_at,
            trained_tokens=run.trained_tokens,
            error_code="training_failed" if failed else None,
            error_message=run.error if failed else None,
            hyperparameters=dict(run.options or {}),
            estimated_finish=finish,
            phase=self._phase(str(run.status)),
        )


def adapter_name(suffix: str | None) -> str:
    """Unique per job, and valid as a vLLM LoRA name and a folder name."""
    word = re.sub(r"[^a-z0-9]+", "-", (suffix or "").lower()).strip("-")[:32]
    return f"tunebot-{word + '-' if word else ''}{secrets.token_hex(4)}"
