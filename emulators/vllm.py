"""An emulator of vLLM's OpenAI-compatible server with LoRA adapters, generating for real.

What `vllm serve <model> --enable-lora --max-lora-rank R` answers, checked against vLLM's
source (vllm/entrypoints/openai/serving_models.py, serving_engine.py, api_server.py,
protocol.py, vllm/plugins/lora_resolvers/filesystem_resolver.py): `GET /v1/models` (the base
model, then each adapter with its `parent` and `root`), chat completions plain and streamed.
With VLLM_ALLOW_RUNTIME_LORA_UPDATING (`runtime_updating`), `POST /v1/load_lora_adapter` and
`/v1/unload_lora_adapter` (success as plain text; errors as `{"error": {message, type, param,
code}}` with code the HTTP status; without it those routes are FastAPI's 404). With the
filesystem resolver plugin too (`resolver_dir`, VLLM_LORA_RESOLVER_CACHE_DIR), a chat naming a
model the server does not know loads `<resolver_dir>/<name>` when its adapter_config.json
says `peft_type` LORA and `base_model_name_or_path` equal to the model vLLM was started with
(`model_config.model`, the `vllm serve` argument, not `--served-model-name`); a server
restarted forgets what it loaded and resolves it again on the next request. Answers come
from the real base model with the real adapter files applied (transformers + PEFT on the
CPU), so an adapter that does not load fails the test that uses it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emulators._http import LoopbackServer
from emulators._wire import Request, Response, json_response
from emulators.vllm_resolver import FilesystemResolver


def error(message: str, kind: str, status: int, param: str | None = None) -> Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return json_response(body, status)


class RankTooLarge(ValueError):
    """The adapter's rank is above the server's --max-lora-rank."""


class VllmEmulator(LoopbackServer):
    def __init__(
        self,
        model_path: Path,
        *,
        served_name: str | None = None,
        max_lora_rank: int = 16,
        api_key: str | None = None,
        max_model_len: int = 512,
        runtime_updating: bool = True,
        resolver_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self._resolver = FilesystemResolver(resolver_dir) if resolver_dir is not None else None
        self.model_path = model_path
        # `vllm serve <model>`: model_config.model, what the resolver compares adapters with.
        self.model = str(model_path)
        self.served_name = served_name or self.model
        self.max_lora_rank = max_lora_rank
        self.api_key = api_key
        self.max_model_len = max_model_len
        self.runtime_updating = runtime_updating
        self.loras: dict[str, str] = {}  # name -> path, in load order
        self.chats: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._resolving = threading.Lock()
        self._engine: Any = None
        r = self.router
        r.add("GET", "/v1/models", self._models)
        if runtime_updating:
            r.add("POST", "/v1/load_lora_adapter", self._load)
            r.add("POST", "/v1/unload_lora_adapter", self._unload)
        r.add("POST", "/v1/chat/completions", self._chat)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def restart(self) -> None:
        """What a vLLM restart forgets: every adapter loaded at runtime or resolved."""
        with self._lock:
            self.loras.clear()
            self._engine = None

    def handle(self, request: Request) -> Response:
        # vLLM's --api-key guards every /v1 route with the same bearer token.
        if self.api_key and request.path.startswith("/v1") and request.bearer() != self.api_key:
            return json_response({"error": "Unauthorized"}, 401)
        return super().handle(request)

    def not_found(self, request: Request) -> Response:
        return json_response({"detail": "Not Found"}, 404)  # FastAPI's answer to no route

    def _models(self, request: Request) -> Response:
        created = int(time.time())
        cards = [
            {
                "id": self.served_name,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": self.model,
                "parent": None,
                "max_model_len": self.max_model_len,
                "permission": [],
            }
        ]
        cards += [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": path,
                "parent": self.served_name,
                "max_model_len": None,
                "permission": [],
            }
            for name, path in list(self.loras.items())
        ]
        return json_response({"object": "list", "data": cards})

    def _load(self, request: Request) -> Response:
        body = request.json() or {}
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            return error(
                "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput", 400
            )
        if name in self.loras:
            return error(
                f"The lora adapter '{name}' has already been loaded.", "InvalidUserInput", 400
            )
        config = Path(path) / "adapter_config.json"
        if not config.is_file():
            return error(
                f"Loading lora {name} failed: No adapter found for {path}", "NotFoundError", 404
            )
        try:
            self._add_lora(name, path)
        except RankTooLarge as failure:
            return error(str(failure), "BadRequestError", 400)
        except Exception as failure:
            return error(f"Loading lora {path} failed: {failure}", "BadRequestError", 400)
        self.loras[name] = path
        return Response(200, f"Success: LoRA adapter '{name}' added successfully.".encode())

    def _add_lora(self, name: str, path: str) -> None:
        """The engine's add_lora: vLLM validates an adapter by loading it."""
        rank = int(json.loads((Path(path) / "adapter_config.json").read_text()).get("r", 0))
        if rank > self.max_lora_rank:
            limit = self.max_lora_rank
            raise RankTooLarge(f"LoRA rank {rank} is greater than max_lora_rank {limit}.")
        self._adapted(name, path)

    def _unload(self, request: Request) -> Response:
        body = request.json() or {}
        name = body.get("lora_name")
        if not name and not body.get("lora_int_id"):
            message = "either 'lora_name' and 'lora_int_id' needs to be provided."
            return error(message, "InvalidUserInput", 400)
        if name not in self.loras:
            return error(f"The lora adapter '{name}' cannot be found.", "NotFoundError", 404)
        del self.loras[name]
        return Response(200, f"Success: LoRA adapter '{name}' removed successfully.".encode())

    # -- a model the server does not know: the resolvers (serving_engine's _check_model) -------

    def _unknown_model(self, model: str) -> Response | None:
        """None when `model` answers (the base, a loaded adapter, or one resolved now)."""
        if not model or model == self.served_name or model in self.loras:
            return None
        if self.runtime_updating and self._resolver is not None:
            found = self._resolve(model)
            if found is None:
                return None
            if found.status == 400:  # found, but it would not load: that error, not a 404
                return found
        return error(f"The model `{model}` does not exist.", "NotFoundError", 404, "model")

    def _resolve(self, name: str) -> Response | None:
        """serving_models.resolve_lora with the filesystem resolver, one name at a time."""
        with self._resolving:
            if name in self.loras:
                return None
            assert self._resolver is not None
            path = self._resolver.resolve(self.model, name)
            if path is None:
                return error(f"LoRA adapter {name} does not exist", "NotFoundError", 404)
            try:
                self._add_lora(name, path)
            except Exception:
                message = f"LoRA adapter '{name}' was found but could not be loaded."
                return error(message, "BadRequestError", 400)
            self.loras[name] = path
            return None

    def _chat(self, request: Request) -> Response:
        body = request.json() or {}
        model = str(body.get("model") or "")
        refused = self._unknown_model(model)
        if refused is not None:
            return refused
        model = model or self.served_name  # no model named: the base model answers
        self.chats.append(body)
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 64)
        pieces, finish, prompt_tokens = self._generate(model, body.get("messages") or [], limit)
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        if body.get("stream"):
            events = _stream(head, pieces, finish, usage, body.get("stream_options") or {})
            return Response(200, events, {"Content-Type": "text/event-stream; charset=utf-8"})
        message = {"role": "assistant", "content": "".join(pieces), "tool_calls": []}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        return json_response(
            head | {"object": "chat.completion", "choices": [choice], "usage": usage}
        )

    # -- the engine ------------------------------------------------------------------------------

    def _base(self) -> tuple[Any, Any]:
        if self._engine is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.model_path)
            model = AutoModelForCausalLM.from_pretrained(self.model_path)
            self._engine = (tokenizer, model, {})
        return self._engine[0], self._engine[1]

    def _adapted(self, name: str, path: str) -> Any:
        with self._lock:
            tokenizer, base = self._base()
            adapters = self._engine[2]
            if name not in adapters:
                from peft import PeftModel

                if not adapters:
                    adapters[name] = PeftModel.from_pretrained(base, path, adapter_name=name)
                    self._engine = (tokenizer, adapters[name], adapters)
                else:
                    self._engine[1].load_adapter(path, adapter_name=name)
                    adapters[name] = self._engine[1]
            return adapters[name]

    def _generate(
        self, model: str, messages: list[dict[str, Any]], limit: int
    ) -> tuple[list[str], str, int]:
        import torch

        with self._lock:
            tokenizer, engine = self._base()
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            adapters = self._engine[2]
            context = torch.no_grad()
            with context:
                if adapters and model in adapters:
                    engine.set_adapter(model)
                    out = engine.generate(**inputs, max_new_tokens=limit, do_sample=False)
                elif adapters:
                    with engine.disable_adapter():
                        out = engine.generate(**inputs, max_new_tokens=limit, do_sample=False)
                else:
                    out = engine.generate(**inputs, max_new_tokens=limit, do_sample=False)
        prompt = int(inputs["input_ids"].shape[1])
        new = [int(t) for t in out[0][prompt:]]
        finish = "stop" if new and new[-1] == tokenizer.eos_token_id else "length"
        # Streamed the way vLLM detokenizes: a piece is sent once its bytes form whole characters.
        pieces, sent = [], ""
        for end in range(1, len(new) + 1):
            text = tokenizer.decode(new[:end], skip_special_tokens=True)
            if len(text) > len(sent) and not text.endswith("\ufffd"):
                pieces.append(text[len(sent) :])
                sent = text
        return pieces, finish, prompt


def _stream(
    head: dict[str, Any], pieces: list[str], finish: str, usage: dict[str, int], options: Any
) -> Iterator[bytes]:
    base = head | {"object": "chat.completion.chunk"}

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + json.dumps(base | {"choices": choices} | extra).encode() + b"\n\n"

    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    yield event([choice({"role": "assistant", "content": ""})])
    for piece in pieces:
        yield event([choice({"content": piece})])
    yield event([choice({"content": ""}, finish)])
    if options.get("include_usage"):
        yield event([], usage=usage)
    yield b"data: [DONE]\n\n"
