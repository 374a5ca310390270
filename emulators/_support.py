"""Test-control helpers shared by both emulators: queued faults, polling waits, random ids."""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
F = TypeVar("F")

_ALNUM = string.ascii_letters + string.digits
# Seeded so a failing run's ids repeat on the next run; ids only need to be unique here.
_random = random.Random(20240718)
_random_lock = threading.Lock()


def random_id(prefix: str, length: int = 24, alphabet: str = _ALNUM) -> str:
    with _random_lock:
        return prefix + "".join(_random.choices(alphabet, k=length))


def request_id() -> str:
    return random_id("req_", 32, string.hexdigits[:16])


class FaultQueue(Generic[F]):
    """Faults armed per key (an API method, a route), each used once, in the order armed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[F]] = {}

    def push(self, key: str, fault: F, times: int = 1) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._pending.setdefault(key, []).extend([fault] * times)

    def pop(self, key: str) -> F | None:
        with self._lock:
            queue = self._pending.get(key)
            if not queue:
                return None
            fault = queue.pop(0)
            if not queue:
                del self._pending[key]
            return fault

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 5.0,
    *,
    interval: float = 0.005,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy, and return that.

    On timeout raise AssertionError naming the predicate, its last value and whatever
    `context` says about the emulator's state, so a failing test explains itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            name = getattr(predicate, "__qualname__", repr(predicate))
            detail = f"\n{context()}" if context is not None else ""
            raise AssertionError(
                f"timed out after {timeout:.1f}s waiting for {name} (last value: {value!r}){detail}"
            )
        time.sleep(interval)
