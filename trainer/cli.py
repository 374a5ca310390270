"""`tunebot trainer`: the worker's composition root (database, dataset store, adapter folder)."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING

from storage.db import build_engine, build_session_factory, upgrade
from trainer.worker import Worker

if TYPE_CHECKING:
    from bot.config import TrainerSettings

log = logging.getLogger(__name__)


def run(args: argparse.Namespace, settings: TrainerSettings) -> int:
    """Train queued `local` jobs with `settings`, read (and logging set up) by `tunebot`."""
    engine = build_engine(settings.database_url)
    upgrade(engine)
    worker = Worker(
        session_factory=build_session_factory(engine),
        data_dir=settings.dataset_dir,
        model_dir=settings.model_dir,
        lease=timedelta(seconds=args.lease_seconds),
        heartbeat_every=max(1.0, args.lease_seconds / 6),
        # e.g. "accelerate launch --num_processes 4": one job data-parallel over 4 GPUs.
        launch=shlex.split(settings.trainer_launch or "") or None,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info(
            "%s: finishing the current step, keeping a checkpoint", signal.Signals(signum).name
        )
        worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "trainer %s: waiting for local jobs in %s", worker.owner, engine.url.render_as_string()
    )
    if args.once:
        worker.run_once()
    else:
        worker.run_forever()
    engine.dispose()
    return 0
