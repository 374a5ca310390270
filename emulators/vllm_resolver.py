"""vLLM's lora_filesystem_resolver, as the vLLM emulator runs it (checked against
vllm/plugins/lora_resolvers/filesystem_resolver.py): an adapter named `name` is the folder
`<cache dir>/<name>`, never an absolute name nor a path that leaves the folder, and is taken
only when its adapter_config.json says `peft_type` LORA and `base_model_name_or_path` equal to
the model the server was started with."""

from __future__ import annotations

import json
import os
from pathlib import Path


class FilesystemResolver:
    def __init__(self, cache_dir: Path) -> None:
        if not cache_dir.is_dir():
            # What registering the plugin raises when vLLM starts.
            raise ValueError(
                "VLLM_LORA_RESOLVER_CACHE_DIR must be set to a valid directory for "
                "Filesystem Resolver plugin to function"
            )
        self._root = os.path.realpath(cache_dir)

    def resolve(self, base_model: str, name: str) -> str | None:
        """The adapter's path when it is there and fits `base_model`; None otherwise."""
        path = self._path(name)
        if path is None:
            return None
        config = Path(path) / "adapter_config.json"
        if not config.is_file():
            return None
        found = json.loads(config.read_text())
        fits = found.get("base_model_name_or_path") == base_model
        return path if found.get("peft_type") == "LORA" and fits else None

    def _path(self, name: str) -> str | None:
        if os.path.isabs(name):
            return None
        path = os.path.realpath(os.path.join(self._root, name))
        return path if os.path.commonpath([self._root, path]) == self._root else None
