"""The `local` provider: LoRA training by `tunebot trainer` on your GPU, served by your vLLM.

The fine-tuning "API" is tunebot's own `training_runs` table (written here, worked by
`tunebot trainer`), so every call is a read or a guarded write in the database. A finished
adapter is served by the team's vLLM, loaded by tunebot at runtime or found by vLLM's
filesystem resolver (local_serving.py), and let go once served nowhere (local_adapters.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from admin.datastore import DatasetStore
from admin.errors import TunebotError
from admin.providers import results
from admin.providers.base import (
    Checkpoint,
    JobEvent,
    JobSnapshot,
    MetricPoint,
    ProviderError,
    TrainRequest,
    UploadProgress,
)
from admin.providers.local_adapters import AdapterUpkeep
from admin.providers.local_options import LocalOptions
from admin.providers.local_serving import VllmServing
from admin.providers.plugin import (
    NOTHING_PER_TOKEN,
    AnswerPrice,
    Capability,
    ChatEndpoint,
    Phase,
    Provider,
    ProviderContext,
)
from admin.providers.settings import URL, ProviderSettings, secret
from admin.providers.vllm_api import Unreachable, VllmRefusal, VllmServer
from storage import training_repo as repo
from storage.models import TrainingRun, utcnow

PREFIX = "local-"


class Local(VllmServing, AdapterUpkeep, Provider):
    name: ClassVar[str] = "local"
    label: ClassVar[str] = "Local trainer (vLLM)"

    class Settings(ProviderSettings):
        model_config = SettingsConfigDict(env_prefix="TUNEBOT_")
        vllm_url: URL = Field(
            description="your vLLM server's OpenAI-compatible base, e.g. http://vllm:8000/v1"
        )
        vllm_api_key: SecretStr | None = Field(
            None, description="the vLLM server's --api-key, if it has one"
        )
        model_dir: Path = Field(
            Path("models"),
            description="where `tunebot trainer` writes adapters (shared with the bot)",
        )
        vllm_model_dir: str | None = Field(
            None,
            description="the same folder as the vLLM server sees it (default: TUNEBOT_MODEL_DIR)",
        )
        vllm_resolver: Literal["none", "filesystem"] = Field(
            "none",
            description="how vLLM gets adapters: `none`, tunebot loads each one at runtime "
            "(one server); `filesystem`, vLLM's lora_filesystem_resolver loads it from the "
            "adapter folder on the first request naming it (any number of replicas)",
        )
        adapter_retention_days: int = Field(
            30,
            ge=1,
            description="days an adapter served nowhere keeps its folder before it is removed",
        )

    Options = LocalOptions
    capabilities = frozenset({Capability.EVENTS, Capability.CHECKPOINTS, Capability.DPO})
    statuses: ClassVar[Mapping[str, Phase]] = {
        "queued": Phase.ACTIVE,
        "running": Phase.ACTIVE,
        "succeeded": Phase.SUCCEEDED,
        "failed": Phase.FAILED,
        "cancelled": Phase.CANCELLED,
    }
    token_counting = "approximate: counted with tiktoken, the model's own tokenizer differs"
    serving_cost = "your own GPU: nothing is billed per token"

    settings: Settings

    @classmethod
    def answer_price(cls, model: str) -> AnswerPrice | None:
        return NOTHING_PER_TOKEN

    def __init__(self, settings: Settings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        if context.session_factory is None or context.data_dir is None:
            raise TunebotError("The local provider needs tunebot's database and dataset store.")
        self._sessions = context.session_factory
        self._store = DatasetStore(context.data_dir)
        self._model_dir = settings.model_dir
        self._vllm = VllmServer(settings.vllm_url, secret(settings.vllm_api_key))
        self._vllm_model_dir = (
            settings.vllm_model_dir or str(settings.model_dir.resolve())
        ).rstrip("/")
        self._resolves = settings.vllm_resolver == "filesystem"
        self._retention = timedelta(days=settings.adapter_retention_days)

    def chat_endpoint(self) -> ChatEndpoint:
        return ChatEndpoint(
            self.settings.vllm_url,
            secret(self.settings.vllm_api_key),
            token_limit_field="max_tokens",
        )

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
        served_base = self._require_served(request.model)
        for sha in filter(None, (request.training_file, request.validation_file)):
            if not self._store.has(sha):
                raise ProviderError(f"The dataset {sha[:12]}… is not in tunebot's dataset store.")
        options = request.options
        assert isinstance(options, LocalOptions)
        with self._sessions.begin() as session:
            run = repo.queue_run(
                session,
                values={
                    "base_model": request.model,
                    "method": request.method,
                    "dataset_sha256": request.training_file,
                    "validation_sha256": request.validation_file,
                    "options": options.to_json(),
                    "adapter_name": adapter_name(options.suffix),
                    "served_base": served_base,
                },
            )
            return self._snapshot(run)

    def _require_served(self, model: str) -> str:
        """The model vLLM was started with (`vllm serve <model>`, each base card's `root`)
        when it serves `model` under that name or its --served-model-name; the trainer writes
        it into the adapter's config, where vLLM's filesystem resolver compares it."""
        try:
            served = self._vllm.base_models()
        except Unreachable as failure:
            raise ProviderError(
                f"Cannot reach the vLLM server at {self._vllm.base_url} ({failure}) to check "
                f"that it serves `{model}`; start it before training."
            ) from None
        except VllmRefusal as refusal:
            raise ProviderError(f"The vLLM server refused: {refusal.message}") from None
        for card in served:
            if model in (str(card.get("id")), str(card.get("root"))):
                return str(card.get("root") or card.get("id"))
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
            phase=self.phase(str(run.status)),
        )


def adapter_name(suffix: str | None) -> str:
    """Unique per job, and valid as a vLLM LoRA name and a folder name."""
    word = re.sub(r"[^a-z0-9]+", "-", (suffix or "").lower()).strip("-")[:32]
    return f"tunebot-{word + '-' if word else ''}{secrets.token_hex(4)}"
