"""Nebius Token Factory: OpenAI-compatible jobs; a finished job is deployed via /v0/models."""

from __future__ import annotations

import re
import zlib
from typing import Any, ClassVar

import openai
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from admin.providers.base import JobSnapshot, NotReady, ProviderError
from admin.providers.errors import provider_error
from admin.providers.openai_compat import OpenAICompatible
from admin.providers.options import Batch, Epochs, LearningRate, Seed, Suffix, TrainOptions
from admin.providers.plugin import Capability
from admin.providers.settings import URL, ProviderSettings

NEBIUS_DEFAULT_URL = "https://api.tokenfactory.nebius.com/v1/"
BROKEN = frozenset({"error", "deleted", "failed"})


class Nebius(OpenAICompatible):
    name: ClassVar[str] = "nebius"
    label: ClassVar[str] = "Nebius Token Factory"

    class Settings(ProviderSettings):
        model_config = SettingsConfigDict(env_prefix="NEBIUS_")
        api_key: SecretStr = Field(description="API key of your Nebius Token Factory project")
        base_url: URL = Field(NEBIUS_DEFAULT_URL, description="the Token Factory API")

    class Options(TrainOptions):
        epochs: Epochs = None
        lr: LearningRate = None
        batch: Batch = None
        suffix: Suffix = None
        seed: Seed = None
        lora_r: int | None = Field(None, ge=1, le=128, description="LoRA rank")
        lora_alpha: int | None = Field(None, ge=1, description="LoRA alpha")
        lora_dropout: float | None = Field(None, ge=0, le=0.5, description="LoRA dropout")

    # Nebius jobs cannot be paused; its job API has cancel, events and checkpoints. A trained
    # model is created once to serve it, billed per token served: no paid deployment to
    # confirm, list or remove (Capability.DEPLOYMENTS).
    capabilities = frozenset({Capability.EVENTS, Capability.CHECKPOINTS})
    default_base_model = "meta-llama/Llama-3.1-8B-Instruct"
    token_counting = "approximate: counted with tiktoken, the model's own tokenizer differs"
    serving_cost = "a created model is billed per token served; price per model on Nebius"
    name_prefix: ClassVar[str] = "tunebot"

    def __init__(self, settings: Any, context: Any) -> None:
        super().__init__(settings, context)
        # The custom-models API lives at the server root, beside /v1, with the same key.
        self._root = self._client.with_options(base_url=control_plane_url(self._client.base_url))

    def make_callable(self, job: JobSnapshot) -> str:
        """Deploy the job's last checkpoint once; every later call only reads its status."""
        self._require_trained(job)
        name = deployment_name(job.id, prefix=self.name_prefix)
        deployed = self._find(name) or self._deploy(job, name)
        status = str(deployed.get("status") or "")
        if status == "active":
            # Nebius answers with the full serving name (base model, adapter, a suffix).
            return str(deployed.get("name") or name)
        if status in BROKEN:
            reason = deployed.get("status_reason") or f"the deployment is {status}"
            raise ProviderError(
                f"{self.label} could not deploy the model trained by job {job.id}: {reason}"
            )
        raise NotReady(f"The model trained by job {job.id} is still deploying ({status}).")

    def _find(self, name: str) -> dict[str, Any] | None:
        try:
            found = self._root.get(f"/v0/models/{name}", cast_to=object)
        except openai.NotFoundError:
            return None
        except openai.APIError as error:
            action = f"read deployment {name}"
            raise provider_error(error, action=action, label=self.label) from error
        return _mapping(found)

    def _deploy(self, job: JobSnapshot, name: str) -> dict[str, Any]:
        checkpoints = self.list_checkpoints(job.id)
        if not checkpoints:
            raise ProviderError(f"{self.label} kept no checkpoint of job {job.id} to deploy.")
        body = {"name": name, "base_model": job.model, "source": f"{job.id}:{checkpoints[-1].id}"}
        try:
            created = self._root.post("/v0/models", cast_to=object, body=body)
        except openai.ConflictError:
            # Another scheduler (or our previous tick) created it between our read and now.
            again = self._find(name)
            if again is None:
                raise NotReady(f"The model trained by job {job.id} is being created.") from None
            return again
        except openai.APIError as error:
            action = f"deploy the model trained by job {job.id}"
            raise provider_error(error, action=action, label=self.label) from error
        return _mapping(created)


def control_plane_url(base_url: object) -> str:
    """`https://api.tokenfactory.nebius.com/v1/` -> `https://api.tokenfactory.nebius.com/`."""
    return str(base_url).rstrip("/").removesuffix("/v1") + "/"


def deployment_name(job_id: str, *, prefix: str = "tunebot") -> str:
    """The same name for the same job on every tick and every replica: that is the idempotence."""
    tail = re.sub(r"[^a-z0-9]", "", job_id.rsplit("-", 1)[-1].lower())[-24:]
    return f"{prefix}-{tail or format(zlib.crc32(job_id.encode()), '08x')}"


def _mapping(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ProviderError("Nebius Token Factory answered a deployment request unexpectedly.")
    return payload
