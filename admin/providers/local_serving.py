"""The `local` provider's serving half: how a finished adapter gets into vLLM and answers.

Two ways, as TUNEBOT_VLLM_RESOLVER says. Without a resolver (one server), tunebot loads each
adapter with `POST /v1/load_lora_adapter` and loads it again after a vLLM restart. With vLLM's
filesystem resolver (any number of replicas sharing the adapter folder), tunebot never loads
anything: the first chat naming an adapter makes the replica it reaches load it from the
folder, and a replica that restarted does so again on its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from admin.providers.base import JobSnapshot, ModelInfo, NotReady, ProviderError
from admin.providers.plugin import Phase
from admin.providers.vllm_api import Unreachable, VllmRefusal, VllmServer

# vLLM's filesystem resolver takes an adapter whose config says this peft_type.
LORA = "LORA"


class VllmServing:
    """Mixed into the `local` provider, which sets these in its `__init__`."""

    _vllm: VllmServer
    _vllm_model_dir: str
    _model_dir: Path
    _resolves: bool  # vLLM's filesystem resolver loads adapters (TUNEBOT_VLLM_RESOLVER)

    def make_callable(self, job: JobSnapshot) -> str:
        if job.phase == Phase.ACTIVE:
            raise NotReady(f"Training job {job.id} is still {job.status}.")
        if job.phase != Phase.SUCCEEDED or not job.fine_tuned_model:
            raise ProviderError(f"Training job {job.id} {job.phase}; there is no adapter to serve.")
        name = job.fine_tuned_model
        if self._resolves:
            self._resolve(name)
            return name
        self._load(name)
        if not self.is_answering(name):
            raise NotReady(f"vLLM loaded `{name}` but it does not answer yet.")
        return name

    def ensure_loaded(self, model: str) -> bool:
        """After a vLLM restart: load `model` again if it is one of ours. False when its folder
        is gone (serve something else); NotReady while vLLM is down. With the resolver there
        is nothing to load: a restarted replica resolves the adapter on its next request."""
        if self._resolves:
            return self._has_folder(model)
        try:
            listed = {str(m.get("id")) for m in self._vllm.models()}
        except Unreachable as failure:
            raise NotReady(
                f"The vLLM server at {self._vllm.base_url} is down ({failure})."
            ) from None
        if model in listed:
            return True
        if not self._has_folder(model):
            return False
        self._load(model)
        return True

    def _has_folder(self, model: str) -> bool:
        return (self._model_dir / model / "adapter_config.json").is_file()

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
            if refusal.no_such_route:
                raise ProviderError(
                    "vLLM has no `/v1/load_lora_adapter`: start it with "
                    "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, or let its filesystem resolver "
                    "load adapters (TUNEBOT_VLLM_RESOLVER=filesystem)."
                ) from None
            if refusal.status == 404:
                raise ProviderError(
                    f"vLLM found no adapter at {path}: {refusal.message} The server must see "
                    "the trainer's adapter folder there (TUNEBOT_VLLM_MODEL_DIR)."
                ) from None
            raise ProviderError(f"vLLM refused the adapter `{name}`: {refusal.message}") from None

    def _resolve(self, name: str) -> None:
        """A one-token chat naming the adapter: the replica it reaches resolves it. A refusal
        says why: the adapter's own config, or the server's settings."""
        try:
            self._vllm.chat(name, "Hi", 1)
        except Unreachable as failure:
            raise NotReady(
                f"The vLLM server at {self._vllm.base_url} is not reachable ({failure}); "
                f"`{name}` will be asked for when it is."
            ) from None
        except VllmRefusal as refusal:
            if refusal.status not in (400, 404):
                message = f"vLLM could not answer with `{name}`: {refusal.message}"
                raise ProviderError(message) from None
            said = f"vLLM refused `{name}` ({refusal.status}: {refusal.message})"
            raise NotReady(f"{said}: {self._why_unresolved(name, refusal.status)}") from None

    def _why_unresolved(self, name: str, status: int) -> str:
        config = self._adapter_config(name)
        if config is None:
            return (
                f"tunebot finds no adapter_config.json in {self._model_dir / name}; the trainer "
                "writes it there, in TUNEBOT_MODEL_DIR."
            )
        if config.get("peft_type") != LORA:
            return (
                f"its adapter_config.json says peft_type `{config.get('peft_type')}`, and vLLM's "
                f"filesystem resolver loads only `{LORA}` adapters."
            )
        base = config.get("base_model_name_or_path")
        try:
            # The resolver compares with the model vLLM was started with: each base's `root`.
            started = sorted({str(m.get("root") or m.get("id")) for m in self._vllm.base_models()})
        except (Unreachable, VllmRefusal):
            started = []
        if started and base not in started:
            return (
                f"its adapter_config.json names the base model `{base}`, but vLLM was started "
                f"with `{'`, `'.join(started)}`, and its filesystem resolver loads an adapter "
                "only when the two are the same name. Serve the model under the name the "
                "adapter names, or retrain it on the model vLLM serves."
            )
        if status == 400:
            return (
                "the adapter was found but did not load: a `lora_r=` above the server's "
                "`--max-lora-rank` is the usual cause (vLLM's log says which)."
            )
        return (
            "its folder and config are in order, so vLLM does not look there: start every "
            "replica with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, "
            "VLLM_PLUGINS=lora_filesystem_resolver and VLLM_LORA_RESOLVER_CACHE_DIR set to "
            f"{self._vllm_model_dir} as vLLM sees it, or set TUNEBOT_VLLM_RESOLVER=none to "
            "load adapters at runtime (one server)."
        )

    def _adapter_config(self, name: str) -> dict[str, Any] | None:
        try:
            found = json.loads((self._model_dir / name / "adapter_config.json").read_text())
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

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
            cards = {str(m.get("id")): m for m in self._vllm.models()}
        except (Unreachable, VllmRefusal) as failure:
            raise ProviderError(f"Could not list the vLLM server's models: {failure}") from None
        local = self._has_folder(model)
        # vLLM states `max_model_len` on the base model's card; an adapter has its parent's.
        card = cards.get(model) or {}
        window = card.get("max_model_len") or (cards.get(str(card.get("parent"))) or {}).get(
            "max_model_len"
        )
        return ModelInfo(
            id=model,
            exists=model in cards or local,
            context_window=window if isinstance(window, int) else None,
        )
