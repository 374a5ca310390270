"""`tunebot trainer`'s loop: claim a queued run, train it in a child, record what happened.

The pattern is the outbox's: a guarded claim (with a lease the heartbeat extends), then the
side effect (training, in a child process so a crash fails one run, not the worker), then a
guarded record of the outcome. A trainer that is SIGKILLed leaves a lease that runs out; the
next trainer takes the run again from its last checkpoint, once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from admin.datastore import DatasetStore
from storage import training_repo as repo
from storage.db import SessionFactory
from storage.models import TrainingRun, utcnow
from storage.training_repo import RunStatus
from trainer.launched import run_launched
from trainer.runner import Outcome, run_in_child, train_child
from trainer.spec import Message, Stop, TrainSpec

log = logging.getLogger(__name__)

Listener = Callable[[int, Message, dict[str, Any]], None]


def default_owner() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class Worker:
    session_factory: SessionFactory
    data_dir: Path
    model_dir: Path
    owner: str = field(default_factory=default_owner)
    lease: timedelta = timedelta(minutes=2)
    heartbeat_every: float = 10.0
    clock: Callable[[], datetime] = utcnow
    # Tests and the demo watch messages as they come (a progress line, a stop on cue).
    listener: Listener | None = None
    child: Callable[..., None] = train_child
    # A launcher to train under, e.g. ["accelerate", "launch", "--num_processes", "4"].
    launch: list[str] | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def run_forever(self, *, idle_wait: float = 5.0) -> None:
        while not self.stopping.is_set():
            if not self.run_once():
                self.stopping.wait(idle_wait)

    def run_once(self) -> bool:
        """Train the next claimable run to its end; False when there was none."""
        with self.session_factory.begin() as session:
            run = repo.claim_next(session, owner=self.owner, now=self.clock(), lease=self.lease)
            if run is None:
                return False
            spec = self._spec(run)
            run_id = run.id
        if isinstance(spec, str):
            self._finish(run_id, RunStatus.FAILED, spec, error=spec)
            return True
        log.info("training run %s (%s) as %s", run_id, spec.base_model, self.owner)
        Path(spec.work_dir).mkdir(parents=True, exist_ok=True)

        def on_message(kind: Message, data: dict[str, Any]) -> None:
            self._on_message(run_id, kind, data)

        def tick() -> Stop | None:
            return self._tick(run_id)

        if self.launch:
            outcome = run_launched(
                spec, self.launch, on_message=on_message, tick=tick, every=self.heartbeat_every
            )
        else:
            outcome = run_in_child(
                spec,
                on_message=on_message,
                tick=tick,
                every=self.heartbeat_every,
                target=self.child,
            )
        self._record_outcome(run_id, outcome)
        return True

    def _spec(self, run: TrainingRun) -> TrainSpec | str:
        store = DatasetStore(self.data_dir)
        paths = [store.path(run.dataset_sha256)]
        if run.validation_sha256:
            paths.append(store.path(run.validation_sha256))
        missing = [p for p in paths if not p.is_file()]
        if missing:
            return (
                f"The dataset file {missing[0].name[:12]}… is not in the dataset store at "
                f"{self.data_dir}; the trainer needs the same TUNEBOT_DATA_DIR as the bot."
            )
        return TrainSpec(
            run_id=run.id,
            base_model=run.base_model,
            train_path=str(paths[0]),
            validation_path=str(paths[1]) if len(paths) > 1 else None,
            adapter_dir=str(self.model_dir / run.adapter_name),
            work_dir=str(self.model_dir / ".runs" / run.adapter_name),
            options=dict(run.options),
            served_base=run.served_base,
        )

    def _tick(self, run_id: int) -> Stop | None:
        with self.session_factory.begin() as session:
            held, cancel = repo.heartbeat(
                session, run_id=run_id, owner=self.owner, now=self.clock(), lease=self.lease
            )
        if not held:
            log.warning("run %s: lease lost; stopping its training here", run_id)
            return Stop.CANCEL
        if cancel:
            return Stop.CANCEL
        return Stop.SHUTDOWN if self.stopping.is_set() else None

    def _on_message(self, run_id: int, kind: Message, data: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener(run_id, kind, data)
        with self.session_factory.begin() as session:
            if kind is Message.PROGRESS:
                repo.update_run(session, run_id=run_id, owner=self.owner, values={"progress": data})
                repo.record_event(
                    session, run_id=run_id, type="metrics", message=_describe(data), data=data
                )
            elif kind is Message.CHECKPOINT:
                repo.update_run(
                    session, run_id=run_id, owner=self.owner, values={"checkpoint": data["path"]}
                )
                repo.record_event(
                    session,
                    run_id=run_id,
                    type="checkpoint",
                    message=f"Checkpoint saved at step {data['step']}.",
                    data=data,
                )
            elif kind is Message.WARNING:
                repo.record_event(
                    session, run_id=run_id, type="warning", message=data["message"], level="warn"
                )

    def _record_outcome(self, run_id: int, outcome: Outcome) -> None:
        data = outcome.data
        if outcome.final is Message.DONE:
            self._finish(
                run_id,
                RunStatus.SUCCEEDED,
                f"Training finished: adapter written after {data.get('step')} steps.",
                trained_tokens=data.get("trained_tokens"),
            )
        elif outcome.final is Message.CANCELLED:
            self._finish(run_id, RunStatus.CANCELLED, f"Cancelled at step {data.get('step')}.")
        elif outcome.final is Message.STOPPED:
            with self.session_factory.begin() as session:
                repo.requeue(
                    session,
                    run_id=run_id,
                    owner=self.owner,
                    message=f"The trainer stopped at step {data.get('step')} (checkpoint kept); "
                    "the job is back in the queue.",
                )
        else:
            message = str(data.get("message") or "Training failed.")
            self._finish(run_id, RunStatus.FAILED, message, error=message)

    def _finish(
        self,
        run_id: int,
        status: RunStatus,
        message: str,
        *,
        error: str | None = None,
        trained_tokens: int | None = None,
    ) -> None:
        with self.session_factory.begin() as session:
            repo.finish(
                session,
                run_id=run_id,
                owner=self.owner,
                status=status,
                message=message,
                error=error,
                trained_tokens=trained_tokens,
            )


def _describe(data: dict[str, Any]) -> str:
    parts = [f"Step {data.get('step')}/{data.get('total_steps')}"]
    if data.get("train_loss") is not None:
        parts.append(f"training loss {data['train_loss']:.4f}")
    if data.get("valid_loss") is not None:
        parts.append(f"validation loss {data['valid_loss']:.4f}")
    if data.get("tokens_per_second"):
        parts.append(f"{data['tokens_per_second']:.0f} tokens/s")
    if data.get("eta_seconds") is not None:
        parts.append(f"about {int(data['eta_seconds'])} s left")
    return ", ".join(parts)
