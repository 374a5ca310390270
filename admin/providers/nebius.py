"""Nebius Token Factory: OpenAI-compatible jobs; a finished job is deployed via /v0/models."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import openai

from admin.providers.base import (
    JobSnapshot,
    NotReady,
    ProviderError,
    TrainRequest,
    Unsupported,
)
from admin.providers.errors import provider_error
from admin.providers.openai_compat import OPENAI_PHASES, OpenAICompatibleProvider
from admin.providers.plugin import Phase

# Nebius jobs cannot be paused; its job API has cancel, events and checkpoints.
NEBIUS_CAPABILITIES = frozenset({"events", "checkpoints"})
BROKEN = frozenset({"error", "deleted", "failed"})


class NebiusProvider(OpenAICompatibleProvider):
    def __init__(
        self,
        client: openai.OpenAI,
        *,
        name: str = "nebius",
        label: str = "Nebius Token Factory",
        phase: Callable[[str], Phase] = OPENAI_PHASES.get_phase,
        capabilities: Iterable[str] = NEBIUS_CAPABILITIES,
        name_prefix: str = "tunebot",
    ) -> None:
        super().__init__(
            client,
            name=name,
            label=label,
            phase=phase,
            capabilities=capabilities,
            token_limit_field="max_tokens",
        )
        # The custom-models API lives at the server root, beside /v1, with the same key.
        self._root = client.with_options(base_url=control_plane_url(client.base_url))
        self._prefix = name_prefix

    def create_job(self, request: TrainRequest) -> JobSnapshot:
        if request.learning_rate_multiplier is not None:
            raise Unsupported(
                f"{self.label} takes an absolute learning rate, not a multiplier of a default; "
                "leave the learning rate multiplier unset to use its default."
            )
        return super().create_job(request)

    def make_callable(self, job: JobSnapshot) -> str:
        """Deploy the job's last checkpoint once; every later call only reads its status."""
        self._require_trained(job)
        name = deployment_name(job.id, prefix=self._prefix)
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
            raise provider_error(error, action=action, provider=self.name) from error
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
            raise provider_error(error, action=action, provider=self.name) from error
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
