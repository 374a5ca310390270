"""The `local` provider's serving half: a finished adapter is loaded into the team's vLLM
server at runtime, loaded again after a vLLM restart, and answers from there."""

from __future__ import annotations

from pathlib import Path

from admin.providers.base import JobSnapshot, ModelInfo, NotReady, ProviderError
from admin.providers.plugin import Phase
from admin.providers.vllm_api import Unreachable, VllmRefusal, VllmServer


class VllmServing:
    """Mixed into the `local` provider, which sets these three in its `__init__`."""

    _vllm: VllmServer
    _vllm_model_dir: str
    _model_dir: Path

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
            cards = {str(m.get("id")): m for m in self._vllm.models()}
        except (Unreachable, VllmRefusal) as failure:
            raise ProviderError(f"Could not list the vLLM server's models: {failure}") from None
        local = (self._model_dir / model / "adapter_config.json").is_file()
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
