"""`tunebot trainer`: the worker's composition root (database, dataset store, adapter folder)."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import FrameType

from storage.db import build_engine, build_session_factory, upgrade
from trainer.worker import Worker

log = logging.getLogger(__name__)


def data_dir(env: Mapping[str, str], database_url: str) -> Path:
    """TUNEBOT_DATA_DIR, else data/ beside the SQLite file, else ./data: where the bot keeps it."""
    if env.get("TUNEBOT_DATA_DIR"):
        return Path(env["TUNEBOT_DATA_DIR"])
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        return Path(database_url.removeprefix("sqlite:///")).parent / "data"
    return Path("data")


def run(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> int:
    logging.basicConfig(
        level=env.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    database_url = env.get("DATABASE_URL") or "sqlite:///tunebot.db"
    model_dir = env.get("TUNEBOT_MODEL_DIR")
    if not model_dir:
        print(
            "tunebot trainer: set TUNEBOT_MODEL_DIR (where adapters are written)", file=sys.stderr
        )
        return 2
    engine = build_engine(database_url)
    upgrade(engine)
    worker = Worker(
        session_factory=build_session_factory(engine),
        data_dir=data_dir(env, database_url),
        model_dir=Path(model_dir),
        lease=timedelta(seconds=args.lease_seconds),
        heartbeat_every=max(1.0, args.lease_seconds / 6),
        # e.g. "accelerate launch --num_processes 4": one job data-parallel over 4 GPUs.
        launch=shlex.split(env.get("TUNEBOT_TRAINER_LAUNCH", "")) or None,
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
