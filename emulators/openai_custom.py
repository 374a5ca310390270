"""Nebius Token Factory-style /v0/models: deploy a trained checkpoint, active after polls."""

from __future__ import annotations

import copy

from emulators._wire import Request
from emulators.openai_models import add_model
from emulators.openai_state import Json, OpenAIError, State, body_of, not_found, now


class CustomModels:
    """Deployments of job checkpoints; the `activation_polls`-th GET of one finds it active."""

    def __init__(self, state: State, activation_polls: int = 2) -> None:
        self.state = state
        self.activation_polls = activation_polls
        self.models: dict[str, Json] = {}
        self._polls: dict[str, int] = {}

    def create(self, request: Request) -> Json:
        body = body_of(request.json())
        for name in ("name", "base_model", "source"):
            if not body.get(name):
                raise OpenAIError(
                    400,
                    f"Missing required parameter: '{name}'.",
                    param=name,
                    code="missing_required_parameter",
                )
        name, source = str(body["name"]), str(body["source"])
        job_id, _, checkpoint_id = source.partition(":")
        with self.state.lock:
            job = self.state.jobs.get(job_id)
            if job is None or job["status"] != "succeeded":
                raise OpenAIError(
                    400, f"Source job {job_id} has no trained weights.", param="source"
                )
            known = {c["id"] for c in self.state.checkpoints.get(job_id, [])}
            if checkpoint_id and checkpoint_id not in known:
                raise OpenAIError(
                    400,
                    f"Checkpoint {checkpoint_id} does not belong to job {job_id}.",
                    param="source",
                )
            if name in self.models or name in self.state.models:
                raise OpenAIError(
                    409, f"A model named {name} already exists.", param="name", code="conflict"
                )
            model = {
                "name": name,
                "base_model": body["base_model"],
                "source": source,
                "status": "pending",
            }
            self.models[name] = model | {"created_at": now(), "owned_by": self.state.organization}
            self._polls[name] = 0
            return copy.deepcopy(self.models[name])

    def retrieve(self, request: Request) -> Json:
        name = request.params["name"]
        with self.state.lock:
            model = self.models.get(name)
            if model is None:
                raise not_found("model", name, "name")
            self._polls[name] += 1
            if model["status"] == "pending" and self._polls[name] >= self.activation_polls:
                model["status"] = "active"
                add_model(self.state, name, owned_by=self.state.organization)
            return copy.deepcopy(model)
