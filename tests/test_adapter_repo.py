"""Adapters served nowhere: retired, taken back when served again, their removal claimed once."""

from __future__ import annotations

from datetime import timedelta

from storage import adapter_repo
from storage.db import SessionFactory
from storage.models import utcnow
from storage.training_repo import RunStatus
from tests.local_helpers import finished_run, queue


def _retired(session_factory: SessionFactory) -> dict[str, bool]:
    """Retired adapter -> whether its removal was claimed."""
    with session_factory() as session:
        return {r.adapter: r.removed_at is not None for r in adapter_repo.retired(session)}


def test_an_adapter_served_nowhere_is_retired_taken_back_and_removed_once(
    session_factory: SessionFactory,
) -> None:
    now = utcnow()
    live = finished_run(session_factory, "tunebot-live-1", RunStatus.SUCCEEDED)
    old = finished_run(session_factory, "tunebot-old-2", RunStatus.SUCCEEDED)
    finished_run(session_factory, "tunebot-failed-3", RunStatus.FAILED)  # nothing to let go of
    queue(session_factory, "0" * 64, "m", "tunebot-queued-4")  # not trained yet
    with session_factory.begin() as session:
        adapter_repo.note_serving(session, serving={"tunebot-live-1", "tunebot-old-2"}, now=now)
    assert _retired(session_factory) == {}

    with session_factory.begin() as session:
        adapter_repo.note_serving(session, serving={"tunebot-live-1"}, now=now)
        # Served again before its folder goes: taken back; then let go again, later.
        adapter_repo.note_serving(session, serving={"tunebot-old-2"}, now=now)
        adapter_repo.note_serving(session, serving={"tunebot-live-1"}, now=now + timedelta(1))
    assert _retired(session_factory) == {"tunebot-old-2": False}

    cutoff = now + timedelta(days=1)
    claims = []
    for _ in range(2):  # two schedulers
        with session_factory.begin() as session:
            claims += [
                adapter_repo.claim_removal(session, run_id=run, retired_before=cutoff, now=cutoff)
                for run in (old, live)
            ]
    assert claims == [True, False, False, False]
    with session_factory.begin() as session:  # a removed adapter is not taken back
        adapter_repo.note_serving(session, serving={"tunebot-old-2"}, now=cutoff)
    assert _retired(session_factory) == {"tunebot-old-2": True, "tunebot-live-1": False}
