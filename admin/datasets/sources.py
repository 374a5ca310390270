"""Input edge of the dataset engine: turn bytes or a path into streams, sniff the text encoding."""

from __future__ import annotations

import codecs
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

Progress = Callable[[int, int], None]
HEAD_BYTES = 64 * 1024
_PROGRESS_STEP = 1 << 20
# KakaoTalk for Windows and Excel write CP949 (a superset of EUC-KR) on Korean systems.
TEXT_ENCODINGS = ("utf-8", "cp949")


class SourceError(Exception):
    """The source cannot be read at all (missing, a directory, permission)."""


@dataclass(frozen=True)
class Source:
    """Where dataset bytes come from: a file on disk or bytes already in memory."""

    name: str | None
    path: Path | None = None
    data: bytes | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size


def resolve(source: bytes | str | os.PathLike[str]) -> Source:
    """bytes are content; a PathLike is a path; a str is a path, or content if it cannot be.

    A str names a file when such a file exists or when it looks like a path (one line, no
    JSON or CSV punctuation at the start); otherwise it is taken as the dataset text itself.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return Source(name=None, data=bytes(source))
    if isinstance(source, str) and not os.path.exists(source) and _looks_like_content(source):
        return Source(name=None, data=source.encode("utf-8"))
    path = Path(source)
    try:
        if not path.is_file():
            reason = "is a directory" if path.is_dir() else "does not exist"
            raise SourceError(f"{path} {reason}")
        with path.open("rb"):
            pass
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # a NUL byte in the name
        raise SourceError(f"{str(path)[:80]!r} is not a usable file name") from exc
    return Source(name=path.name, path=path)


def _looks_like_content(text: str) -> bool:
    return "\n" in text or text.lstrip()[:1] in ("{", "[", '"') or text == ""


class _CountingReader(io.RawIOBase):
    """Counts bytes as they are read so long jobs can report progress without seeking."""

    def __init__(self, raw: BinaryIO, total: int, progress: Progress | None) -> None:
        self._raw = raw
        self._total = total
        self._progress = progress
        self.consumed = 0
        self._next_report = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self.consumed += n
        if self._progress is not None and (self.consumed >= self._next_report or n == 0):
            self._next_report = self.consumed + _PROGRESS_STEP
            self._progress(self.consumed, self._total)
        return int(n)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_binary(src: Source, progress: Progress | None = None) -> io.BufferedReader:
    raw: BinaryIO = src.path.open("rb") if src.path else io.BytesIO(src.data or b"")
    return io.BufferedReader(_CountingReader(raw, src.size, progress), buffer_size=1 << 20)


def read_head(src: Source, n: int = HEAD_BYTES) -> bytes:
    if src.data is not None:
        return src.data[:n]
    assert src.path is not None
    with src.path.open("rb") as f:
        return f.read(n)


def sniff_encoding(head: bytes) -> str | None:
    """utf-8-sig / utf-8 / cp949 for text that decodes, None for anything else.

    The head may end inside a multi-byte character, so it is decoded incrementally.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    for encoding in TEXT_ENCODINGS:
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return encoding
    return None


def is_binary(head: bytes) -> bool:
    """NUL bytes never occur in UTF-8 or CP949 text; they do in images, zips and UTF-16."""
    return b"\x00" in head


def open_text(src: Source, encoding: str, progress: Progress | None = None) -> io.TextIOWrapper:
    # newline="" lets the csv module see quoted newlines inside KakaoTalk messages.
    return io.TextIOWrapper(open_binary(src, progress), encoding=encoding, newline="")
