"""Storage on both databases: migrations match the models, swaps and event claims are guarded."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage import repo
from storage.db import SessionFactory, build_engine, upgrade
from storage.models import Base


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
        assert repo.get_active_model(session, default="gpt-4o-mini") == "gpt-4o-mini"


def test_a_swap_changes_the_row_once_and_records_who(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        assert repo.set_active_model(session, model="ft:a", reason="job", set_by_job="ftjob-1")
    with session_factory.begin() as session:
        assert not repo.set_active_model(session, model="ft:a", reason="job", set_by_job="ftjob-1")
    with session_factory.begin() as session:
        assert repo.set_active_model(session, model="ft:b", reason="use", set_by_user="U1")
    with session_factory() as session:
        assert repo.get_active_model(session, default="base") == "ft:b"
        history = repo.model_history(session)
    assert [(h.model, h.set_by_job, h.set_by_user) for h in history] == [
        ("ft:b", None, "U1"),
        ("ft:a", "ftjob-1", None),
    ]


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
