"""The dataset store: every stored dataset's normalised chat JSONL, by its sha256.

Content-addressed, so a dataset can be uploaded to any provider later (or trained on locally)
without the original file, and the same content is kept once. Writes go to a temporary file
in the same folder and are renamed into place, so a crash never leaves half a dataset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

CHUNK = 1024 * 1024


class DatasetStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / f"{sha256}.jsonl"

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, source: Path, sha256: str) -> Path:
        """Keep a copy of `source` (whose content hashes to `sha256`); idempotent."""
        target = self.path(sha256)
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise ValueError(f"{source.name} does not hash to {sha256[:12]}")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def copy_to(self, sha256: str, destination: Path) -> Path:
        shutil.copyfile(self.path(sha256), destination)
        return destination
