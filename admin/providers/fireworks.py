"""The `fireworks` provider: Fireworks AI LoRA fine-tuning through its official SDK, served by
an on-demand deployment. The SDK is imported only when it is configured."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import openai
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from admin.providers.base import (
    Deployment,
    JobEvent,
    JobSnapshot,
    MetricPoint,
    ModelInfo,
    NotReady,
    ProviderError,
    TrainRequest,
    UploadProgress,
)
from admin.providers.fireworks_wire import event_for, job_arguments, snapshot
from admin.providers.hosted import asking, deployment_name, require_trained
from admin.providers.options import Batch, Epochs, LearningRate, PreferenceOptions, Suffix
from admin.providers.plugin import Capability, ChatEndpoint, Phase, Provider
from admin.providers.settings import URL, ProviderSettings

FIREWORKS_DEFAULT_URL = "https://api.fireworks.ai"
# Fireworks' one-request dataset upload takes files up to 150 MB; larger ones go to a signed URL.
DIRECT_LIMIT = 150 * 1024 * 1024


class Fireworks(Provider):
    name: ClassVar[str] = "fireworks"
    label: ClassVar[str] = "Fireworks AI"

    class Settings(ProviderSettings):
        model_config = SettingsConfigDict(env_prefix="FIREWORKS_")
        api_key: SecretStr = Field(description="API key of your Fireworks account")
        # Required with the key: the key alone cannot name a dataset, job or model.
        account_id: str = Field(
            description="your Fireworks account id, as `firectl whoami` shows it"
        )
        base_url: URL = Field(FIREWORKS_DEFAULT_URL, description="the Fireworks API")
        gpu_hourly_usd: float | None = Field(
            None,
            ge=0,
            description="what one deployment GPU costs you per hour, to show and confirm "
            "deployment costs (Fireworks' API does not say; see fireworks.ai/pricing)",
        )

    class Options(PreferenceOptions):
        model: str | None = Field(
            None,
            max_length=255,
            description="the base model, such as accounts/fireworks/models/llama-v3p1-8b-instruct",
        )
        epochs: Epochs = None
        lr: LearningRate = None
        batch: Batch = None
        suffix: Suffix = None
        lora_rank: int | None = Field(None, ge=1, le=64, description="LoRA rank")
        max_context_length: int | None = Field(None, ge=1, description="longest example in tokens")

    capabilities = frozenset({Capability.EVENTS, Capability.DPO, Capability.DEPLOYMENTS})
    # Fireworks' JobState values; the others (CREATING, PENDING, VALIDATING, RUNNING,
    # WRITING_RESULTS, RE_QUEUEING, CANCELLING, PAUSED, IDLE...) are still in progress.
    statuses: ClassVar[Mapping[str, Phase]] = {
        **{
            f"JOB_STATE_{s}": Phase.ACTIVE
            for s in (
                "UNSPECIFIED",
                "CREATING",
                "PENDING",
                "VALIDATING",
                "RUNNING",
                "WRITING_RESULTS",
                "RE_QUEUEING",
                "CREATING_INPUT_DATASET",
                "IDLE",
                "CANCELLING",
                "PAUSED",
            )
        },
        "JOB_STATE_COMPLETED": Phase.SUCCEEDED,
        "JOB_STATE_EARLY_STOPPED": Phase.SUCCEEDED,  # stopped on its validation loss, with a model
        "JOB_STATE_FAILED": Phase.FAILED,
        "JOB_STATE_EXPIRED": Phase.FAILED,
        "JOB_STATE_CANCELLED": Phase.CANCELLED,
        "JOB_STATE_DELETING": Phase.CANCELLED,
        "JOB_STATE_DELETING_CLEANING_UP": Phase.CANCELLED,
    }
    default_base_model = "accounts/fireworks/models/llama-v3p1-8b-instruct"
    token_counting = (
        "approximate: counted with tiktoken; Fireworks counts with the model's tokenizer"
    )
    serving_cost = (
        "a LoRA model is served by an on-demand deployment billed per GPU-second while its "
        "replica runs; tunebot keeps one replica up so the bot answers at once"
    )
    direct_limit: ClassVar[int] = DIRECT_LIMIT
    settings: Settings

    def __init__(self, settings: Settings, context: Any) -> None:
        super().__init__(settings, context)
        import fireworks  # here, not at module level: only a configured Fireworks costs memory
        import httpx

        self._sdk = fireworks
        self._errors: tuple[type[Exception], ...] = (fireworks.FireworksError,)
        self._client = fireworks.Fireworks(
            api_key=settings.api_key.get_secret_value(),
            account_id=settings.account_id,
            base_url=settings.base_url.rstrip("/"),
            max_retries=2,
            timeout=120.0,
        )
        # The SDK sends chat to `{base}/v1` when the base URL is overridden, not to Fireworks'
        # `{base}/inference/v1`; the openai SDK at the documented inference URL is what the bot
        # chats through anyway.
        self._chat = openai.OpenAI(
            api_key=self.endpoint.api_key, base_url=self.endpoint.base_url, timeout=60.0
        )
        # Files above the one-request limit go to a signed storage URL, which is no Fireworks
        # API route (so no SDK method): a plain HTTP PUT, streamed.
        self._storage = httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0))

    def chat_endpoint(self) -> ChatEndpoint:
        base = self.settings.base_url.rstrip("/")
        key = self.settings.api_key.get_secret_value()
        return ChatEndpoint(f"{base}/inference/v1", key, token_limit_field="max_tokens")

    def _asking(self, action: str) -> Any:
        return asking(self._errors, label=self.label, action=action)

    # -- datasets and jobs -------------------------------------------------------------------

    def upload_training_file(
        self, path: Path, *, filename: str, progress: UploadProgress | None = None
    ) -> str:
        from admin.providers.fireworks_datasets import upload_dataset

        with self._asking("upload the dataset"):
            return upload_dataset(
                self._client,
                self._storage,
                path,
                filename=filename,
                account=self.settings.account_id,
                progress=progress,
                direct_limit=self.direct_limit,
            )

    def create_job(self, request: TrainRequest) -> JobSnapshot:
        arguments = job_arguments(request)
        with self._asking("create the fine-tuning job"):
            job: Any
            if request.method == "dpo":
                job = self._client.dpo_jobs.create(**arguments)
            else:
                job = self._client.supervised_fine_tuning_jobs.create(**arguments)
        return snapshot(job, self.phase)

    def _get(self, job_id: str) -> Any:
        kind, short = _kind(job_id)
        if kind == "dpoJobs":
            return self._client.dpo_jobs.get(short)
        return self._client.supervised_fine_tuning_jobs.get(short)

    def get_job(self, job_id: str) -> JobSnapshot:
        with self._asking(f"read fine-tuning job {job_id}"):
            return snapshot(self._get(job_id), self.phase)

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

    def metrics(self, job: JobSnapshot) -> list[MetricPoint]:
        return []  # Fireworks publishes no per-step loss through its job API

    # -- the deployment ----------------------------------------------------------------------

    def make_callable(self, job: JobSnapshot) -> str:
        require_trained(job, self.label)
        model = job.fine_tuned_model
        if not model:
            raise ProviderError(f"{self.label} finished job {job.id} but named no output model.")
        deployment_id = deployment_name(job.id)
        found = self._deployment(deployment_id) or self._deploy(deployment_id, model)
        state = str(found.state or "")
        if state == "READY":
            return model
        if state in ("FAILED", "DELETING", "DELETED"):
            reason = (found.status.message if found.status else None) or state.lower()
            raise ProviderError(
                f"{self.label} could not deploy {model}: {reason}. Next: remove it with "
                f"`/finetune undeploy {model}` and retry, or check the base model supports LoRA."
            )
        raise NotReady(f"The deployment of {model} is {state.lower() or 'starting'}.")

    def _deployment(self, deployment_id: str) -> Any:
        with self._asking(f"read deployment {deployment_id}"):
            try:
                return self._client.deployments.get(deployment_id)
            except self._sdk.NotFoundError:
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

    # -- deployments (base.Deployments) ------------------------------------------------------

    def deployment_quote(self, job: JobSnapshot) -> float | None:
        # One replica on one GPU, at the price the admin configured.
        return self.settings.gpu_hourly_usd

    def hourly_cost(self, model: str) -> float | None:
        found = self._deployed_model(model)
        hourly = self.settings.gpu_hourly_usd
        if found is None or hourly is None:
            return None
        return hourly * max(1, found.accelerator_count or 1) * (found.min_replica_count or 1)

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
        hourly = self.settings.gpu_hourly_usd
        return [Deployment(d.base_model, str(d.state or ""), hourly, d.create_time) for d in found]


def _kind(job_id: str) -> tuple[str, str]:
    """`accounts/a/dpoJobs/x` -> ("dpoJobs", "x"); a bare id is a supervised job."""
    parts = job_id.split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 else ("supervisedFineTuningJobs", job_id)
