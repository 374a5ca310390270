"""`tunebot trainer`'s worker: claims under a lease, crashes contained, clean stops, retries."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.local_helpers import (
    chat_jsonl,
    crashing_child,
    done_child,
    queue,
    require_train_extra,
    store_dataset,
)

require_train_extra()

from storage import training_repo as repo  # noqa: E402
from storage.db import SessionFactory  # noqa: E402
from storage.models import utcnow  # noqa: E402
from storage.training_repo import RunStatus  # noqa: E402
from trainer.spec import Message  # noqa: E402
from trainer.worker import Worker  # noqa: E402


def _worker(session_factory: SessionFactory, tmp_path: Path, **kwargs: Any) -> Worker:
    return Worker(
        session_factory=session_factory,
        data_dir=tmp_path / "data",
        model_dir=tmp_path / "models",
        heartbeat_every=0.5,
        **kwargs,
    )


def _run(session_factory: SessionFactory, run_id: int) -> Any:
    with session_factory() as session:
        return repo.get_run(session, run_id=run_id)


def _messages(session_factory: SessionFactory, run_id: int) -> list[str]:
    with session_factory() as session:
        return [e.message for e in repo.events(session, run_id=run_id)]


def test_a_stopped_trainer_requeues_and_the_next_resumes_from_its_checkpoint(
    session_factory: SessionFactory, tiny_model: Path, tmp_path: Path
) -> None:
    sha = store_dataset(tmp_path / "data", chat_jsonl(tmp_path / "train.jsonl"))
    run_id = queue(session_factory, sha, str(tiny_model), "tb-1-aaaaaa", epochs=4, save_steps=1)
    first = _worker(session_factory, tmp_path)

    def stop_at_first_checkpoint(run: int, kind: Message, data: dict[str, Any]) -> None:
        if kind is Message.CHECKPOINT:
            first.stopping.set()  # what SIGTERM does

    first.listener = stop_at_first_checkpoint
    assert first.run_once()
    stopped = _run(session_factory, run_id)
    assert stopped.status == RunStatus.QUEUED and stopped.checkpoint

    assert _worker(session_factory, tmp_path).run_once()

    done = _run(session_factory, run_id)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert (tmp_path / "models" / "tb-1-aaaaaa" / "adapter_model.safetensors").is_file()
    messages = _messages(session_factory, run_id)
    assert any("back in the queue" in m for m in messages)
    assert any(m.startswith("Training started (from checkpoint-") for m in messages)
    assert any(m.startswith("Step 4/4, training loss") for m in messages)


def test_a_crashed_child_fails_its_run_and_the_worker_takes_the_next(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    sha = store_dataset(tmp_path / "data", chat_jsonl(tmp_path / "train.jsonl"))
    crashed = queue(session_factory, sha, "m", "tb-1-crash")
    fine = queue(session_factory, sha, "m", "tb-2-fine")
    worker = _worker(session_factory, tmp_path, child=crashing_child)

    assert worker.run_once()
    worker.child = done_child
    assert worker.run_once()

    failed = _run(session_factory, crashed)
    assert failed.status == RunStatus.FAILED and "SIGKILL" in failed.error
    assert _run(session_factory, fine).status == RunStatus.SUCCEEDED


def test_an_expired_lease_is_retried_once_then_failed_with_the_reason(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    sha = store_dataset(tmp_path / "data", chat_jsonl(tmp_path / "train.jsonl"))
    run_id = queue(session_factory, sha, "m", "tb-1-lease")
    now = utcnow()
    lease = timedelta(minutes=2)
    with session_factory.begin() as session:  # a trainer claims it, then is SIGKILLed
        assert repo.claim_next(session, owner="killed-1", now=now, lease=lease)
    with session_factory.begin() as session:  # before the lease runs out nobody may take it
        assert (
            repo.claim_next(session, owner="other", now=now + timedelta(minutes=1), lease=lease)
            is None
        )
    later = now + timedelta(minutes=3)
    with session_factory.begin() as session:  # after it, once more
        again = repo.claim_next(session, owner="killed-2", now=later, lease=lease)
        assert again is not None and again.attempts == 2
    with session_factory.begin() as session:
        assert repo.claim_next(session, owner="third", now=later + lease * 2, lease=lease) is None

    failed = _run(session_factory, run_id)
    assert failed.status == RunStatus.FAILED
    assert "stopped responding 2 times" in failed.error


def test_two_workers_never_claim_one_run(session_factory: SessionFactory) -> None:
    ids = [queue(session_factory, "0" * 64, "m", f"tb-{n}-race") for n in range(6)]
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim_all(owner: str) -> None:
        start.wait()
        while True:
            with session_factory.begin() as session:
                run = repo.claim_next(session, owner=owner, now=utcnow(), lease=timedelta(hours=1))
                if run is None:
                    return
                claimed[owner].append(run.id)

    threads = [threading.Thread(target=claim_all, args=(o,)) for o in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(claimed["a"] + claimed["b"]) == ids


def test_cancelling_a_queued_run_ends_it_before_any_trainer_takes_it(
    session_factory: SessionFactory, tmp_path: Path
) -> None:
    run_id = queue(session_factory, "0" * 64, "m", "tb-1-cancel")
    with session_factory.begin() as session:
        repo.request_cancel(session, run_id=run_id)

    assert not _worker(session_factory, tmp_path, child=done_child).run_once()
    assert _run(session_factory, run_id).status == RunStatus.CANCELLED


def test_a_worker_trains_under_accelerate_launch(
    session_factory: SessionFactory, tiny_model: Path, tmp_path: Path
) -> None:
    import sys

    sha = store_dataset(tmp_path / "data", chat_jsonl(tmp_path / "train.jsonl"))
    run_id = queue(session_factory, sha, str(tiny_model), "tb-1-accel", epochs=3)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu"]
    worker = _worker(session_factory, tmp_path, launch=launch)

    assert worker.run_once()

    done = _run(session_factory, run_id)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert (tmp_path / "models" / "tb-1-accel" / "adapter_model.safetensors").is_file()
    assert any(m.startswith("Step 3/3") for m in _messages(session_factory, run_id))


def test_cancelling_a_running_job_stops_it_at_the_next_step(
    session_factory: SessionFactory, tiny_model: Path, tmp_path: Path
) -> None:
    sha = store_dataset(tmp_path / "data", chat_jsonl(tmp_path / "train.jsonl"))
    run_id = queue(session_factory, sha, str(tiny_model), "tb-1-stop", epochs=30)
    worker = _worker(session_factory, tmp_path)

    def cancel_once_started(run: int, kind: Message, data: dict[str, Any]) -> None:
        if kind is Message.PROGRESS:
            with session_factory.begin() as session:  # what /finetune cancel does
                repo.request_cancel(session, run_id=run)

    worker.listener = cancel_once_started
    assert worker.run_once()

    cancelled = _run(session_factory, run_id)
    assert cancelled.status == RunStatus.CANCELLED
    assert cancelled.progress["step"] < 30
    assert not (tmp_path / "models" / "tb-1-stop").exists()
