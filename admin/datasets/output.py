"""The normalised JSONL a prepared dataset uploads: written once, hashed while written."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from admin.datasets.report import DatasetReport

# One example per line, compact JSON, UTF-8, `\n` endings. These exact bytes are what the
# sha256 names and what gets uploaded, so they are streamed to a file, never held in memory.


class JsonlWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._digest = hashlib.sha256()
        self._file: BinaryIO = path.open("wb")

    def write(self, payload: bytes) -> None:
        line = payload + b"\n"
        self._file.write(line)
        self._digest.update(line)
        self.count += 1

    def close(self) -> str:
        self._file.close()
        return self._digest.hexdigest()


def validation_path(path: Path) -> Path:
    """train.jsonl -> train.validation.jsonl (next to it)."""
    return path.with_name(f"{path.stem}.validation{path.suffix or '.jsonl'}")


def new_output_path(output: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """(path, is_temporary): the caller's path, or a fresh temp file the dataset owns."""
    if output is not None:
        return Path(output), False
    handle, name = tempfile.mkstemp(prefix="tunebot-dataset-", suffix=".jsonl")
    os.close(handle)
    return Path(name), True


@dataclass
class PreparedDataset:
    """A validated dataset in upload form. Temporary files are removed by `cleanup()`."""

    report: DatasetReport
    jsonl_path: Path
    sha256: str
    examples: int = 0
    validation: PreparedDataset | None = None
    speakers: list[tuple[str, int]] | None = None
    temporary: bool = field(default=False, repr=False)

    def read_bytes(self) -> bytes:
        """The whole normalised file; for small datasets (large ones: open `jsonl_path`)."""
        return self.jsonl_path.read_bytes()

    def cleanup(self) -> None:
        if self.temporary:
            self.jsonl_path.unlink(missing_ok=True)
        if self.validation is not None:
            self.validation.cleanup()

    def __enter__(self) -> PreparedDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
