"""The `together` provider: Together AI fine-tuning through its official SDK, served from a
dedicated endpoint (together_endpoints.py). The SDK is imported only when it is configured."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from admin.options import Lowercase
from admin.providers.base import (
    Checkpoint,
    Deployment,
    JobEvent,
    JobSnapshot,
    MetricPoint,
    ModelInfo,
    TrainRequest,
    UploadProgress,
)
from admin.providers.hosted import asking, require_trained
from admin.providers.options import Batch, Epochs, PreferenceOptions, Seed
from admin.providers.plugin import Capability, ChatEndpoint, Phase, Provider
from admin.providers.settings import URL, ProviderSettings
from admin.providers.together_wire import event, snapshot, when

if TYPE_CHECKING:
    from admin.providers.together_endpoints import TogetherEndpoints

TOGETHER_DEFAULT_URL = "https://api.together.xyz/v1"


def sdk_base_url(base_url: str) -> str:
    """`https://api.together.xyz/v1` (as users copy it) -> the origin the SDK prefixes paths
    (`/v1/fine-tunes`, `/v2/projects/...`) with."""
    return base_url.rstrip("/").removesuffix("/v1")


class Together(Provider):
    name: ClassVar[str] = "together"
    label: ClassVar[str] = "Together AI"

    class Settings(ProviderSettings):
        model_config = SettingsConfigDict(env_prefix="TOGETHER_")
        api_key: SecretStr = Field(description="API key of your Together AI account")
        base_url: URL = Field(TOGETHER_DEFAULT_URL, description="the Together API")
        project_id: str | None = Field(
            None,
            description="the project fine-tuned models are deployed in "
            "(needed only with several projects)",
        )

    class Options(PreferenceOptions):
        epochs: Epochs = None
        lr: float = Field(
            1e-5,
            gt=0,
            alias="learning_rate",
            description="absolute learning rate, such as 0.00001",
        )
        batch: Batch = None
        suffix: str | None = Field(
            None, max_length=40, description="text to put in the model's name"
        )
        seed: Seed = None
        training: Annotated[Literal["lora", "full"], Lowercase] = Field(
            "lora", alias="lora", description="LoRA adapters or all weights"
        )
        lora_r: int | None = Field(None, ge=1, le=128, description="LoRA rank")
        lora_alpha: int | None = Field(None, ge=1, description="LoRA alpha")
        lora_dropout: float | None = Field(None, ge=0, le=0.99, description="LoRA dropout")

    capabilities = frozenset(
        {Capability.EVENTS, Capability.CHECKPOINTS, Capability.DPO, Capability.DEPLOYMENTS}
    )
    # Together's job statuses (its FinetuneResponse.status).
    statuses: ClassVar[Mapping[str, Phase]] = {
        **{s: Phase.ACTIVE for s in ("pending", "queued", "running", "compressing", "uploading")},
        "cancel_requested": Phase.ACTIVE,
        "completed": Phase.SUCCEEDED,
        "error": Phase.FAILED,
        "cancelled": Phase.CANCELLED,
    }
    default_base_model = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
    token_counting = (
        "approximate: counted with tiktoken; Together counts with the model's tokenizer"
    )
    serving_cost = (
        "a dedicated endpoint is billed per minute by its hardware while it runs, even idle; "
        "the hourly price is shown before one is created"
    )
    settings: Settings

    def __init__(self, settings: Settings, context: Any) -> None:
        super().__init__(settings, context)
        import together  # here, not at module level: only a configured Together costs memory

        from admin.providers.together_endpoints import TogetherEndpoints

        self._sdk = together
        self._errors: tuple[type[Exception], ...] = (together.TogetherError,)
        self._client = together.Together(
            api_key=settings.api_key.get_secret_value(),
            base_url=sdk_base_url(settings.base_url),
            project_id=settings.project_id,
            max_retries=2,
            timeout=120.0,  # uploads of large training files
        )
        self.endpoints: TogetherEndpoints = TogetherEndpoints(
            self._client, project_id=settings.project_id, label=self.label
        )

    def chat_endpoint(self) -> ChatEndpoint:
        # Together's OpenAI-compatible chat lives under /v1, as users write the URL.
        base = sdk_base_url(self.settings.base_url) + "/v1"
        key = self.settings.api_key.get_secret_value()
        return ChatEndpoint(base, key, token_limit_field="max_tokens")

    def _asking(self, action: str) -> Any:
        return asking(self._errors, label=self.label, action=action)

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
        options = request.options
        assert isinstance(options, Together.Options)
        arguments: dict[str, Any] = {
            "training_file": request.training_file,
            "model": request.model,
            "training_method": "dpo" if request.method == "dpo" else "sft",
            "lora": options.training != "full",
            "learning_rate": options.lr,
        }
        optional = {
            "n_epochs": options.epochs,
            "validation_file": request.validation_file,
            "batch_size": options.batch,
            "suffix": options.suffix,
            "random_seed": options.seed,
            "dpo_beta": options.beta,
            "n_evals": 1 if request.validation_file else None,
            "train_on_inputs": "auto" if request.method != "dpo" else None,
            "lora_r": options.lora_r,
            "lora_alpha": options.lora_alpha,
            "lora_dropout": options.lora_dropout,
        }
        arguments |= {key: value for key, value in optional.items() if value is not None}
        with self._asking("create the fine-tuning job"):
            job = self._client.fine_tuning.create(**arguments)
        # The SDK's create returns its own older model; the retrieved job has every field.
        return self.get_job(str(job.id))

    def get_job(self, job_id: str) -> JobSnapshot:
        with self._asking(f"read fine-tuning job {job_id}"):
            job = self._client.fine_tuning.retrieve(job_id)
        found = snapshot(job, self.phase)
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

    def _registered_model(self, job: JobSnapshot) -> str:
        """The model the job registered, from the snapshot or (one rebuilt from tunebot's
        database holds only what tunebot stored) from Together."""
        found = job.hyperparameters.get("model_object_id")
        if not found:
            found = self.get_job(job.id).hyperparameters.get("model_object_id")
        return str(found or "")

    def make_callable(self, job: JobSnapshot) -> str:
        require_trained(job, self.label)
        return self.endpoints.ensure(job.id, self._registered_model(job))

    def is_answering(self, model: str) -> bool:
        try:
            self._client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=1
            )
        except self._sdk.NotFoundError:
            return False
        except self._errors as error:
            with self._asking(f"reach {model}"):
                raise error
        return True

    def model_info(self, model: str) -> ModelInfo:
        if self.endpoints.find_by_model(model) is not None:
            return ModelInfo(id=model, exists=True)
        with self._asking(f"look up {model}"):
            try:
                found = self._client.models.retrieve_supported(model)
            except self._sdk.NotFoundError:
                return ModelInfo(id=model, exists=False)
        window = str(getattr(found, "context_length", None) or "")
        return ModelInfo(
            id=model, exists=True, context_window=int(window) if window.isdigit() else None
        )

    # -- deployments (base.Deployments) ------------------------------------------------------

    def deployment_quote(self, job: JobSnapshot) -> float | None:
        return self.endpoints.quote(self._registered_model(job))

    def hourly_cost(self, model: str) -> float | None:
        return self.endpoints.hourly_cost(model)

    def undeploy(self, model: str) -> bool:
        return self.endpoints.remove(model)

    def list_deployments(self) -> list[Deployment]:
        return self.endpoints.listing()
