"""Fireworks AI through the official `fireworks-ai` SDK: datasets, SFT/DPO jobs, deployments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fireworks
import httpx
import openai

from admin.providers.base import (
    Checkpoint,
    Deployment,
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
from admin.providers.fireworks_datasets import DIRECT_LIMIT, upload_dataset
from admin.providers.fireworks_wire import event_for, hyper_for, job_arguments, snapshot
from admin.providers.hosted import asking, deployment_name, require_trained
from admin.providers.plugin import Phase

ERRORS: tuple[type[Exception], ...] = (fireworks.FireworksError,)
LABEL = "Fireworks AI"


class FireworksGateway:
    """`FineTuneProvider` and `Deployments` for Fireworks AI."""

    def __init__(
        self,
        client: fireworks.Fireworks,
        chat: openai.OpenAI,
        *,
        account: str,
        phase: Callable[[str], Phase],
        capabilities: frozenset[str],
        gpu_hourly_usd: float | None = None,
        name: str = "fireworks",
        direct_limit: int = DIRECT_LIMIT,
    ) -> None:
        self.name = name
        self.label = LABEL
        self.capabilities = capabilities
        self._client = client
        # The SDK sends chat to `{base}/v1` when the base URL is overridden, not to Fireworks'
        # `{base}/inference/v1`; the openai SDK at the documented inference URL is what the bot
        # chats through anyway.
        self._chat = chat
        self._account = account
        self._phase = phase
        self._gpu_hourly = gpu_hourly_usd
        self._direct_limit = direct_limit
        self._storage_client: httpx.Client | None = None

    @property
    def _storage(self) -> httpx.Client:
        # Files above the one-request limit go to a signed storage URL, which is no Fireworks
        # API route (so no SDK method): a plain HTTP PUT, streamed. Made on first use.
        if self._storage_client is None:
            self._storage_client = httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0))
        return self._storage_client

    def _asking(self, action: str) -> Any:
        return asking(ERRORS, label=LABEL, action=action)

    # -- datasets and jobs -------------------------------------------------------------------

    def upload_training_file(
        self, path: Path, *, filename: str, progress: UploadProgress | None = None
    ) -> str:
        with self._asking("upload the dataset"):
            return upload_dataset(
                self._client,
                self._storage,
                path,
                filename=filename,
                account=self._account,
                progress=progress,
                direct_limit=self._direct_limit,
            )

    def create_job(self, request: TrainRequest) -> JobSnapshot:
        if request.learning_rate_multiplier is not None:
            raise Unsupported(f"{LABEL} takes an absolute learning rate, not a multiplier.")
        arguments = job_arguments(request)
        with self._asking("create the fine-tuning job"):
            job: Any
            if request.method == "dpo":
                job = self._client.dpo_jobs.create(**arguments)
            else:
                job = self._client.supervised_fine_tuning_jobs.create(**arguments)
        return snapshot(job, self._phase)

    def _get(self, job_id: str) -> Any:
        kind, short = _kind(job_id)
        if kind == "dpoJobs":
            return self._client.dpo_jobs.get(short)
        return self._client.supervised_fine_tuning_jobs.get(short)

    def get_job(self, job_id: str) -> JobSnapshot:
        with self._asking(f"read fine-tuning job {job_id}"):
            return snapshot(self._get(job_id), self._phase)

    def list_events(self, job_id: str, *, after: str | None = None) -> list[JobEvent]:
        # Fireworks keeps no event list: the job's state and progress now are the one event,
        # named by what it says, so a tick that sees nothing new gets nothing.
        with self._asking(f"read fine-tuning job {job_id}"):
            current = event_for(self._get(job_id))
        return [] if current.id == after else [current]

    def cancel_job(self, job_id: str) -> JobSnapshot:
        kind, short = _kind(job_id)
        with self._asking(f"cancel job {job_id}"):
            if kind == "dpoJobs":
                self._client.dpo_jobs.cancel(short, body={})
            else:
                self._client.supervised_fine_tuning_jobs.cancel(short, body={})
        return self.get_job(job_id)

    def pause_job(self, job_id: str) -> JobSnapshot:
        raise Unsupported(f"{LABEL} cannot pause a fine-tuning job from tunebot; cancel it.")

    def resume_job(self, job_id: str) -> JobSnapshot:
        raise Unsupported(f"{LABEL} cannot resume a fine-tuning job from tunebot.")

    def list_checkpoints(self, job_id: str) -> list[Checkpoint]:
        raise Unsupported(f"{LABEL} does not list a job's checkpoints through its API.")

    def metrics(self, job: JobSnapshot) -> list[MetricPoint]:
        return []  # Fireworks publishes no per-step loss through its job API

    # -- the deployment ----------------------------------------------------------------------

    def make_callable(self, job: JobSnapshot) -> str:
        require_trained(job, LABEL)
        model = job.fine_tuned_model
        if not model:
            raise ProviderError(f"{LABEL} finished job {job.id} but named no output model.")
        deployment_id = deployment_name(job.id)
        found = self._deployment(deployment_id) or self._deploy(deployment_id, model)
        state = str(found.state or "")
        if state == "READY":
            return model
        if state in ("FAILED", "DELETING", "DELETED"):
            reason = (found.status.message if found.status else None) or state.lower()
            raise ProviderError(
                f"{LABEL} could not deploy {model}: {reason}. Next: remove it with "
                f"`/finetune undeploy {model}` and retry, or check the base model supports LoRA."
            )
        raise NotReady(f"The deployment of {model} is {state.lower() or 'starting'}.")

    def _deployment(self, deployment_id: str) -> Any:
        with self._asking(f"read deployment {deployment_id}"):
            try:
                return self._client.deployments.get(deployment_id)
            except fireworks.NotFoundError:
                return None

    def _deploy(self, deployment_id: str, model: str) -> Any:
        try:
            with self._asking(f"deploy {model}"):
                # Live merge: the LoRA model itself as the base model of its own deployment.
                return self._client.deployments.create(
                    base_model=model,
                    deployment_id=deployment_id,
                    min_replica_count=1,
                    max_replica_count=1,
                    display_name=f"tunebot {model.rsplit('/', 1)[-1]}"[:60],
                )
        except ProviderError as error:
            if error.status == 409 and (again := self._deployment(deployment_id)) is not None:
                return again
            raise

    def is_answering(self, model: str) -> bool:
        try:
            self._chat.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=1
            )
        except openai.NotFoundError:
            return False
        except openai.APIError as error:
            with self._asking(f"reach {model}"):
                raise error
        return True

    def model_info(self, model: str) -> ModelInfo:
        return ModelInfo(id=model, exists=self._deployed_model(model) is not None)

    def _deployed_model(self, model: str) -> Any:
        with self._asking("list deployments"):
            return next((d for d in self._client.deployments.list() if d.base_model == model), None)

    # -- deployments (Deployments protocol) --------------------------------------------------

    def deployment_quote(self, job: JobSnapshot) -> float | None:
        return self._gpu_hourly  # one replica on one GPU, at the price the admin configured

    def hourly_cost(self, model: str) -> float | None:
        found = self._deployed_model(model)
        if found is None or self._gpu_hourly is None:
            return None
        return (
            self._gpu_hourly * max(1, found.accelerator_count or 1) * (found.min_replica_count or 1)
        )

    def undeploy(self, model: str) -> bool:
        found = self._deployed_model(model)
        if found is None:
            return False
        with self._asking(f"delete the deployment of {model}"):
            self._client.deployments.delete(str(found.name).rsplit("/", 1)[-1])
        return True

    def list_deployments(self) -> list[Deployment]:
        with self._asking("list deployments"):
            found = list(self._client.deployments.list())
        return [Deployment(d.base_model, str(d.state or ""), self._gpu_hourly) for d in found]


def _kind(job_id: str) -> tuple[str, str]:
    """`accounts/a/dpoJobs/x` -> ("dpoJobs", "x"); a bare id is a supervised job."""
    parts = job_id.split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 else ("supervisedFineTuningJobs", job_id)


__all__ = ["FireworksGateway", "hyper_for"]
