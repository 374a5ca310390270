"""Runs one training in a child process and relays its messages, so a crash stays there.

The child is started with the `spawn` method (a fresh interpreter: no inherited database
connections, CUDA state or locks). The parent waits on the child's message queue with a
timeout, so it can heartbeat and pass on a stop or cancel request between messages.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from typing import Any

from trainer.spec import Message, Stop, TrainSpec

# What the parent does between messages: heartbeat, look for a cancel; returns a Stop to send.
Tick = Callable[[], Stop | None]
OnMessage = Callable[[Message, dict[str, Any]], None]


FINAL = frozenset({Message.DONE, Message.STOPPED, Message.CANCELLED, Message.ERROR})


@dataclass
class Outcome:
    final: Message
    data: dict[str, Any] = field(default_factory=dict)


def train_child(spec: dict[str, Any], messages: Any, shutdown: Event, cancel: Event) -> None:
    # The worker handles SIGTERM/SIGINT and tells the child through `shutdown`: the child
    # must not die half-way through writing a checkpoint because the terminal sent ^C.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from trainer.child import train

    def asked() -> Stop | None:
        if cancel.is_set():
            return Stop.CANCEL
        if shutdown.is_set():
            return Stop.SHUTDOWN
        return None

    train(TrainSpec(**spec), lambda kind, data: messages.put((str(kind), data)), asked)


def run_in_child(
    spec: TrainSpec,
    *,
    on_message: OnMessage,
    tick: Tick = lambda: None,
    every: float = 5.0,
    target: Callable[..., None] = train_child,
) -> Outcome:
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    shutdown, cancel = context.Event(), context.Event()
    process = context.Process(
        target=target, args=(spec.to_json(), messages, shutdown, cancel), daemon=True
    )
    process.start()
    final: Outcome | None = None
    try:
        while final is None:
            try:
                kind, data = messages.get(timeout=every)
            except queue.Empty:
                if not process.is_alive():
                    final = _drain(messages, on_message) or _died(process)
                    break
                _pass_on(tick(), shutdown, cancel)
                continue
            message = Message(kind)
            on_message(message, data)
            if message in FINAL:
                final = Outcome(message, data)
            else:
                _pass_on(tick(), shutdown, cancel)
    finally:
        process.join(timeout=60)
        if process.is_alive():
            process.kill()
            process.join()
        messages.close()
    return final


def _pass_on(stop: Stop | None, shutdown: Event, cancel: Event) -> None:
    if stop is Stop.CANCEL:
        cancel.set()
    elif stop is Stop.SHUTDOWN:
        shutdown.set()


def _drain(messages: Any, on_message: OnMessage) -> Outcome | None:
    # The child may have put its last words just before exiting.
    while True:
        try:
            kind, data = messages.get(timeout=1.0)
        except queue.Empty:
            return None
        message = Message(kind)
        on_message(message, data)
        if message in FINAL:
            return Outcome(message, data)


def _died(process: Any) -> Outcome:
    process.join(timeout=5)
    return Outcome(Message.ERROR, {"kind": "crash", "message": describe_exit(process.exitcode)})


def describe_exit(code: int | None) -> str:
    """Why a training process ended without a last word, from its exit code."""
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        why = (
            "most often the machine running out of memory; try a smaller `batch=` or `max_len=`"
            if -code == signal.SIGKILL
            else "it was stopped from outside"
        )
        return f"The training process was killed by {name} ({why})."
    return f"The training process exited unexpectedly (exit code {code})."
