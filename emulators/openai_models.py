"""OpenAI models: catalogue, aliases, shutdown dates, fine-tuned additions, /v1/models."""

from __future__ import annotations

from emulators._wire import Request
from emulators.openai_state import Json, OpenAIError, State, now

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-3.5-turbo-0125",
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
)

# An alias answers as its snapshot: the completion's `model` names the snapshot, as OpenAI's does.
ALIASES: dict[str, str] = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}

FINE_TUNABLE: frozenset[str] = frozenset(
    {
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-2024-08-06",
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        "gpt-3.5-turbo-0125",
    }
)

_RELEASED = 1_700_000_000  # a fixed `created` keeps listings stable from run to run


def add_model(
    state: State, model_id: str, *, owned_by: str = "system", shutdown_date: str | None = None
) -> None:
    with state.lock:
        created = now() if model_id.startswith("ft:") else _RELEASED
        state.models[model_id] = {
            "id": model_id,
            "object": "model",
            "created": created,
            "owned_by": owned_by,
        }
        state.models[model_id]["shutdown_date"] = shutdown_date


def remove_model(state: State, model_id: str) -> None:
    with state.lock:
        state.models.pop(model_id, None)
        state.unready.pop(model_id, None)


def set_shutdown_date(state: State, model_id: str, date: str | None) -> None:
    with state.lock:
        if model_id not in state.models:
            raise KeyError(model_id)
        state.models[model_id]["shutdown_date"] = date


def model_not_found(model: str) -> OpenAIError:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return OpenAIError(404, message, code="model_not_found")


def resolve_for_chat(state: State, model: str) -> str:
    """The model that answers `model`, or the 404 OpenAI gives (also for a not-yet-ready model)."""
    with state.lock:
        if model not in state.models:
            raise model_not_found(model)
        if state.unready.get(model, 0) > 0:
            state.unready[model] -= 1
            raise model_not_found(model)
        return ALIASES.get(model, model) if ALIASES.get(model) in state.models else model


def base_of(model: str) -> str:
    """`ft:gpt-4o-mini-2024-07-18:org:suffix:id` -> `gpt-4o-mini-2024-07-18`."""
    return model.split(":")[1] if model.startswith("ft:") else model


def fine_tunable(state: State, model: str) -> str:
    """The snapshot a job trains from `model`, or the 400 OpenAI gives for anything else."""
    with state.lock:
        snapshot = ALIASES.get(model, model)
        if model.startswith("ft:") and model in state.models:
            return model  # continued training from our own fine-tune
        if snapshot in FINE_TUNABLE and snapshot in state.models:
            return snapshot
    message = f"Model {model} is not available for fine-tuning or does not exist."
    raise OpenAIError(400, message, param="model", code="model_not_available")


def list_models(state: State, request: Request) -> Json:
    with state.lock:
        return {"object": "list", "data": [dict(m) for m in state.models.values()]}


def retrieve_model(state: State, request: Request) -> Json:
    with state.lock:
        model = state.models.get(request.params["model"])
        if model is None:
            raise model_not_found(request.params["model"])
        return dict(model)


def delete_model(state: State, request: Request) -> Json:
    model_id = request.params["model"]
    with state.lock:
        model = state.models.get(model_id)
        if model is None:
            raise model_not_found(model_id)
        if model["owned_by"] in ("system", "openai", "openai-internal"):
            raise OpenAIError(
                403,
                f"You are not allowed to delete the model {model_id}.",
                code="permission_denied",
            )
        remove_model(state, model_id)
    return {"id": model_id, "object": "model", "deleted": True}
