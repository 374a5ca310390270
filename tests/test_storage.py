"""Storage on both databases: migrations match the models, swaps and event claims are guarded."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from storage import repo
from storage.db import SessionFactory, build_engine, build_session_factory, upgrade
from storage.models import Base, SlackEvent
from storage.repo import ModelRef


def test_upgrading_an_empty_database_leaves_no_autogenerate_diff(database_url: str) -> None:
    engine = build_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # a second start finds nothing to do
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_active_model_defaults_to_the_base_model_until_one_is_set(
    session_factory: SessionFactory,
) -> None:
    with session_factory() as session:
        assert (
            repo.get_active_model(session, default=ModelRef("openai", "gpt-4o-mini")).model
            == "gpt-4o-mini"
        )


def test_a_swap_changes_the_row_once_and_records_who(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        assert repo.set_active_model(
            session, model=ModelRef("openai", "ft:a"), reason="job", set_by_job="ftjob-1"
        )
    with session_factory.begin() as session:
        assert not repo.set_active_model(
            session, model=ModelRef("openai", "ft:a"), reason="job", set_by_job="ftjob-1"
        )
    with session_factory.begin() as session:
        assert repo.set_active_model(
            session, model=ModelRef("openai", "ft:b"), reason="use", set_by_user="U1"
        )
    with session_factory() as session:
        assert repo.get_active_model(session, default=ModelRef("openai", "base")).model == "ft:b"
        history = repo.model_history(session)
    assert [(h.model, h.set_by_job, h.set_by_user) for h in history] == [
        ("ft:b", None, "U1"),
        ("ft:a", "ftjob-1", None),
    ]


def test_two_jobs_going_live_at_once_on_a_new_workspace_both_swap_in_order(
    session_factory: SessionFactory,
) -> None:
    # Two schedulers each carry a job live while the workspace has no model row yet: the
    # first INSERTs it; the second's INSERT meets that row once it is committed. The second
    # swap must still happen (after the first), not be dropped while its job is announced.
    first_in = threading.Event()

    def first() -> bool:
        with session_factory.begin() as session:
            swapped = repo.set_active_model(
                session, model=ModelRef("openai", "ft:a"), reason="job", set_by_job="job-1"
            )
            first_in.set()
            time.sleep(0.5)  # the second swap reaches its INSERT meanwhile
            return swapped

    def second() -> bool:
        first_in.wait()
        with session_factory.begin() as session:
            return repo.set_active_model(
                session, model=ModelRef("openai", "ft:b"), reason="job", set_by_job="job-2"
            )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [pool.submit(first), pool.submit(second)]
        swapped = [r.result(timeout=30) for r in results]

    with session_factory() as session:
        active = repo.get_active_model(session, default=ModelRef("openai", "base")).model
        history = [(h.model, h.set_by_job) for h in repo.model_history(session)]
    assert swapped == [True, True]
    assert active == "ft:b"
    assert history == [("ft:b", "job-2"), ("ft:a", "job-1")]


def test_an_event_is_claimed_once_even_under_another_event_id(
    session_factory: SessionFactory,
) -> None:
    with session_factory.begin() as session:
        first = repo.claim_event(
            session, event_id="Ev1", event_type="app_mention", message_key="C1:1.0"
        )
        again = repo.claim_event(
            session, event_id="Ev1", event_type="app_mention", message_key="C1:1.0"
        )
        twin = repo.claim_event(session, event_id="Ev2", event_type="message", message_key="C1:1.0")
        other = repo.claim_event(
            session, event_id="Ev3", event_type="message", message_key="C1:2.0"
        )
    assert (first, again, twin, other) == (True, False, False, True)


def _claim(factory: SessionFactory, n: int) -> bool:
    with factory.begin() as session:
        return repo.claim_event(session, event_id=f"Ev{n}", event_type="message", message_key=None)


def test_sqlite_writers_of_one_process_take_turns_and_every_write_lands(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'burst.db'}")
    upgrade(engine)
    factory = build_session_factory(engine)
    with ThreadPoolExecutor(max_workers=16) as pool:
        claimed = list(pool.map(lambda n: _claim(factory, n), range(400)))
    with factory() as session:
        stored = session.scalar(select(func.count()).select_from(SlackEvent))
    engine.dispose()
    assert all(claimed) and stored == 400


def test_a_sqlite_writer_that_failed_or_left_does_not_hold_up_the_next(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    upgrade(engine)
    factory = build_session_factory(engine)
    assert _claim(factory, 1)
    # A transaction that fails after writing is rolled back...
    with pytest.raises(RuntimeError), factory.begin() as session:
        repo.claim_event(session, event_id="Ev2", event_type="message", message_key=None)
        raise RuntimeError("the answer failed half-way")
    # ...and a session closed mid-transaction hands its connection back rolled back.
    abandoned = factory()
    repo.claim_event(abandoned, event_id="Ev3", event_type="message", message_key=None)
    abandoned.close()

    # Each of them wrote, so each held the write turn. The reader keeps their (pooled)
    # connection busy, so the next writer opens another; a turn left held would block it
    # for the 30 s SQLite itself waits, far past the 10 s given here.
    with factory() as reader, ThreadPoolExecutor(max_workers=1) as pool:
        reader.execute(select(1))
        later = pool.submit(_claim, factory, 4)
        assert later.result(timeout=10)
    with factory() as session:
        ids = set(session.scalars(select(SlackEvent.event_id)))
    engine.dispose()
    assert ids == {"Ev1", "Ev4"}
