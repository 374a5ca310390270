"""Which dataset format a file holds, from its first bytes and (as a hint) its name."""

from __future__ import annotations

import codecs
import csv
import json
import re
from typing import Any

from admin.datasets.kakao import is_csv_header, sniff_txt
from admin.datasets.sources import is_binary, sniff_encoding

FORMATS = (
    "chat",
    "prompt_completion",
    "dpo",
    "kakao_csv",
    "kakao_pc",
    "kakao_android",
    "kakao_ios",
    "csv",
    "tsv",
    "xlsx",
    "json",
)
# Names accepted by --format on top of FORMATS.
ALIASES = {
    "jsonl": "chat",
    "kakao_txt": "kakao_txt",
    "kakao": "kakao",
    "legacy": "prompt_completion",
}
JSONL_FORMATS = ("chat", "prompt_completion", "dpo")
KAKAO_TXT = ("kakao_pc", "kakao_android", "kakao_ios")
UNKNOWN = "unknown"


def detect_format(head: bytes, filename: str | None = None) -> str:
    """One of FORMATS, or "unknown". `head` is the start of the file (64 KB is plenty)."""
    suffix = (filename or "").lower().rpartition(".")[2] if filename and "." in filename else ""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if is_binary(head) or not head.strip():
        return UNKNOWN
    encoding = sniff_encoding(head)
    if encoding is None:
        return UNKNOWN
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return _jsonl_kind(stripped)
    if stripped.startswith("[") and suffix != "txt" and (suffix == "json" or _is_json(stripped)):
        return "json"
    kakao = sniff_txt(text)
    if kakao is not None:
        return kakao
    first_line = stripped.splitlines()[0] if stripped else ""
    if is_csv_header(next(csv.reader([first_line]), [])):
        return "kakao_csv"
    if suffix == "tsv" or ("\t" in first_line and suffix != "csv"):
        return "tsv"
    if suffix == "csv" or "," in first_line:
        return "csv"
    if suffix in ("jsonl", "json"):
        return "chat"
    return UNKNOWN


def _jsonl_kind(text: str) -> str:
    """The kind of the first line that parses; chat if none does (its errors will show)."""
    for line in text.splitlines()[:20]:
        try:
            obj: Any = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if "messages" in obj:
            return "chat"
        if "preferred_output" in obj or "non_preferred_output" in obj:
            return "dpo"
        if "prompt" in obj or "completion" in obj:
            return "prompt_completion"
    # No whole line in the head (very long examples): go by the keys that appear in it.
    if '"preferred_output"' in text or re.match(r'\{\s*"input"\s*:\s*\{', text):
        return "dpo"
    if '"messages"' not in text and '"prompt"' in text and '"completion"' in text:
        return "prompt_completion"
    return "chat"


def _is_json(text: str) -> bool:
    # A JSON array is either complete (small file) or opens with an object or array.
    return text[1:].lstrip()[:1] in ("{", "[", "]", '"')


def normalise_format(name: str) -> str | None:
    """A --format value -> a format name (kakao_txt / kakao are resolved later), or None."""
    name = name.strip().lower().replace("-", "_")
    if name in FORMATS:
        return name
    return ALIASES.get(name)
