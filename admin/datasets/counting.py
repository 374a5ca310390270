"""Token counting of many examples at once: batched, cached, encoded on worker threads."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import tiktoken

from admin.datasets.token_plan import ASSISTANT, REPEATED, TokenPlan
from admin.tokens import count_ordinary_batch

# Counting dominates validation time. Texts that recur (roles, names, system prompts, short
# replies) are encoded once; assistant content is encoded once for both the total and the
# assistant count (the cookbook encodes it twice); the rest goes to worker threads in
# batches, each batch one call into tiktoken (admin.tokens.count_ordinary_batch) that
# releases the GIL while the main thread parses and checks the next lines.

Result = Callable[[int, int, int], None]  # (key, total tokens, assistant tokens)
TEXTS_PER_BATCH = 4096
IN_FLIGHT = 2
# Bounds the cache in characters, not entries: a few long system prompts are worth keeping,
# millions of distinct short replies are not.
CACHE_CHARS = 2_000_000


class _Batch:
    __slots__ = ("futures", "items", "texts", "to_cache")

    def __init__(self) -> None:
        self.items: list[tuple[int, int, int, list[int]]] = []
        self.texts: list[str] = []
        self.to_cache: list[int] = []
        self.futures: list[Future[list[int]]] = []


class TokenCounter:
    """Feed plans with `add`, then `close`; results arrive in order through `on_result`."""

    def __init__(self, encoding: tiktoken.Encoding, on_result: Result, workers: int = 2) -> None:
        self._encoding = encoding
        self._on_result = on_result
        self._workers = workers
        self._pool = ThreadPoolExecutor(workers, "tokens") if workers > 1 else None
        self._cache: dict[str, int] = {}
        self._cached_chars = 0
        self._batch = _Batch()
        self._index: dict[str, int] = {}
        self._in_flight: deque[_Batch] = deque()

    def add(self, key: int, plan: TokenPlan) -> None:
        total, assistant, pending = plan.fixed, 0, []
        cache, index, batch = self._cache, self._index, self._batch
        for text, flags in plan.texts:
            n = cache.get(text)
            if n is not None:
                total += n
                if flags & ASSISTANT:
                    assistant += n
                continue
            i = index.get(text)
            if i is None:
                i = index[text] = len(batch.texts)
                batch.texts.append(text)
                if flags & REPEATED:
                    batch.to_cache.append(i)
            pending.append(~i if flags & ASSISTANT else i)
        batch.items.append((key, total, assistant, pending))
        if len(batch.texts) >= TEXTS_PER_BATCH:
            self._submit()

    def close(self) -> None:
        self._submit()
        while self._in_flight:
            self._resolve(self._in_flight.popleft())
        if self._pool is not None:
            self._pool.shutdown()

    def _count(self, texts: list[str]) -> list[int]:
        return count_ordinary_batch(self._encoding, texts)

    def _submit(self) -> None:
        batch, self._batch, self._index = self._batch, _Batch(), {}
        if not batch.items:
            return
        if self._pool is None or len(batch.texts) < 64:
            done: Future[list[int]] = Future()
            done.set_result(self._count(batch.texts))
            batch.futures.append(done)
        else:
            step = -(-len(batch.texts) // self._workers)
            for start in range(0, len(batch.texts), step):
                chunk = batch.texts[start : start + step]
                batch.futures.append(self._pool.submit(self._count, chunk))
        self._in_flight.append(batch)
        while len(self._in_flight) > IN_FLIGHT:
            self._resolve(self._in_flight.popleft())

    def _resolve(self, batch: _Batch) -> None:
        counts = [n for future in batch.futures for n in future.result()]
        for i in batch.to_cache:
            self._remember(batch.texts[i], counts[i])
        on_result = self._on_result
        for key, total, assistant, pending in batch.items:
            for p in pending:
                if p < 0:
                    n = counts[~p]
                    assistant += n
                else:
                    n = counts[p]
                total += n
            on_result(key, total, assistant)

    def _remember(self, text: str, n: int) -> None:
        if self._cached_chars + len(text) > CACHE_CHARS:
            self._cache.clear()
            self._cached_chars = 0
        self._cache[text] = n
        self._cached_chars += len(text)
