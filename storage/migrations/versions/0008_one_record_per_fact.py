"""one record per fact: a dataset's uploads live only in dataset_uploads; an answer references
its turn

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00

Data rules (nothing a user sees is lost):

Datasets. Every dataset whose upload the old columns record (status uploading, uploaded or
upload_failed, at `provider`, or at the deployment's provider when none was stored) gets that
upload in dataset_uploads, unless it is there already: uploaded (with its file id), failed
(with its error), or uploading since the dataset's `created_at` (the time of the last claim),
so a crashed upload is still taken over. A row already in dataset_uploads is newer than the
columns (intake wrote both at once; training wrote only the row) and is kept, except that an
upload the columns record as done is never lost: a row that is not "uploaded" takes the
columns' file id. Then `status`, `provider`, `provider_file_id` and `error` are dropped.

Answers. Each answer is linked to the turn written with it: same channel and thread, a
question not after the reply, created within MATCH_WINDOW of the answer (the two rows are
written in one transaction, or one right after the other before that); among several, the
one that agrees on model, provider, asker and outcome, then the nearest in time; each turn
serves one answer. An answer with no such turn (its turn failed to be written) gets a turn
rebuilt from its own columns: outcome "answered", its channel, thread, asker, model, provider
and time, and the thread's ts for the question's (which the answer never stored). Votes and
corrections keep their answer ids. Then the columns the turn holds are dropped and
`message_ts` (the reply that carries the buttons) is renamed `reply_ts`.

The downgrade restores the columns from dataset_uploads (the first uploaded row, else the
first row) and from the turns; turns rebuilt by the upgrade stay.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from alembic.operations import BatchOperations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MATCH_WINDOW = timedelta(minutes=5)
_WHEN = sa.DateTime(timezone=True)

_datasets = sa.table(
    "datasets",
    sa.column("id", sa.Integer()),
    sa.column("created_at", _WHEN),
    sa.column("status", sa.String()),
    sa.column("provider", sa.String()),
    sa.column("provider_file_id", sa.String()),
    sa.column("error", sa.String()),
)
_uploads = sa.table(
    "dataset_uploads",
    sa.column("id", sa.Integer()),
    sa.column("dataset_id", sa.Integer()),
    sa.column("provider", sa.String()),
    sa.column("status", sa.String()),
    sa.column("file_id", sa.String()),
    sa.column("error", sa.String()),
    sa.column("started_at", _WHEN),
)
# The columns an answer copied from its turn, as answers had them (type, nullable);
# message_ts is in both, meaning the question in turns and the reply in answers.
_COPIED: dict[str, tuple[sa.types.TypeEngine[Any], bool]] = {
    "channel_id": (sa.String(length=32), False),
    "thread_ts": (sa.String(length=32), False),
    "user_id": (sa.String(length=32), True),
    "provider": (sa.String(length=32), True),
    "model": (sa.String(length=255), False),
    "created_at": (sa.DateTime(timezone=True), False),
}


def _asked() -> list[sa.ColumnClause[Any]]:
    strings = ("channel_id", "thread_ts", "message_ts", "user_id", "provider", "model")
    return [*(sa.column(name, sa.String()) for name in strings), sa.column("created_at", _WHEN)]


_turns = sa.table(
    "turns", sa.column("id", sa.Integer()), sa.column("outcome", sa.String()), *_asked()
)
_answers = sa.table(
    "answers", sa.column("id", sa.Integer()), sa.column("turn_id", sa.Integer()), *_asked()
)
# What the old `datasets.status` said, and the dataset_uploads status that says it now.
_OLD_TO_NEW = {"uploading": "uploading", "uploaded": "uploaded", "upload_failed": "failed"}
_NEW_TO_OLD = {new: old for old, new in _OLD_TO_NEW.items()}


def upgrade() -> None:
    bind = op.get_bind()
    _move_uploads(bind)
    with op.batch_alter_table("datasets") as batch:
        for column in ("status", "provider", "provider_file_id", "error"):
            batch.drop_column(column)

    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("turn_id", sa.Integer(), nullable=True))
    _link_answers(bind)
    with op.batch_alter_table("answers") as batch:
        batch.drop_constraint("uq_answers_channel_id", type_="unique")
        batch.drop_index("ix_answers_created_at")
        _rename(batch, "message_ts", "reply_ts")
        batch.alter_column("turn_id", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint(batch.f("uq_answers_turn_id"), ["turn_id"])
        batch.create_foreign_key(batch.f("fk_answers_turn_id_turns"), "turns", ["turn_id"], ["id"])
        for column in _COPIED:
            batch.drop_column(column)
    with op.batch_alter_table("answers") as batch:
        batch.create_index(batch.f("ix_answers_reply_ts"), ["reply_ts"], unique=False)
    _check_foreign_keys(bind)


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("answers") as batch:
        for name, (kind, _nullable) in _COPIED.items():
            batch.add_column(sa.Column(name, kind, nullable=True))
    turn = _turns.alias("t")
    bind.execute(
        _answers.update().values(
            {
                name: sa.select(turn.c[name])
                .where(turn.c.id == _answers.c.turn_id)
                .scalar_subquery()
                for name in _COPIED
            }
        )
    )
    with op.batch_alter_table("answers") as batch:
        batch.drop_index(batch.f("ix_answers_reply_ts"))
        batch.drop_constraint(batch.f("fk_answers_turn_id_turns"), type_="foreignkey")
        batch.drop_constraint(batch.f("uq_answers_turn_id"), type_="unique")
        batch.drop_column("turn_id")
        _rename(batch, "reply_ts", "message_ts")
        for name, (kind, nullable) in _COPIED.items():
            if not nullable:
                batch.alter_column(name, existing_type=kind, nullable=False)
    with op.batch_alter_table("answers") as batch:
        # In a batch of its own: in the one that renames message_ts, SQLite's copy of the table
        # silently left it out.
        batch.create_unique_constraint("uq_answers_channel_id", ["channel_id", "message_ts"])
        batch.create_index(batch.f("ix_answers_created_at"), ["created_at"], unique=False)

    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("status", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("provider", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("provider_file_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("error", sa.String(length=1000), nullable=True))
    _restore_upload_columns(bind)
    with op.batch_alter_table("datasets") as batch:
        batch.alter_column("status", existing_type=sa.String(length=32), nullable=False)
    _check_foreign_keys(bind)


def _rename(batch: BatchOperations, old: str, new: str) -> None:
    batch.alter_column(
        old, new_column_name=new, existing_type=sa.String(length=32), existing_nullable=False
    )


def _move_uploads(bind: sa.Connection) -> None:
    default = str(context.config.attributes.get("default_provider") or "openai")
    known = {
        (row.dataset_id, row.provider): row.status
        for row in bind.execute(
            sa.select(_uploads.c.dataset_id, _uploads.c.provider, _uploads.c.status)
        )
    }
    legacy = bind.execute(
        sa.select(_datasets).where(_datasets.c.status.in_(list(_OLD_TO_NEW)))
    ).all()
    for row in legacy:
        provider = row.provider or default
        status = _OLD_TO_NEW[row.status]
        if status == "uploaded" and not row.provider_file_id:
            status = "failed"  # nothing to train on: sending the file again retries it
        found = known.get((row.id, provider))
        if found is None:
            bind.execute(
                _uploads.insert().values(
                    dataset_id=row.id,
                    provider=provider,
                    status=status,
                    file_id=row.provider_file_id,
                    error=row.error,
                    started_at=row.created_at,
                )
            )
        elif status == "uploaded" and found != "uploaded":
            bind.execute(
                _uploads.update()
                .where(_uploads.c.dataset_id == row.id, _uploads.c.provider == provider)
                .values(status="uploaded", file_id=row.provider_file_id, error=None)
            )


def _restore_upload_columns(bind: sa.Connection) -> None:
    rows = bind.execute(sa.select(_uploads).order_by(_uploads.c.id)).all()
    chosen: dict[int, Any] = {}
    for row in rows:
        held = chosen.get(row.dataset_id)
        if held is None or (held.status != "uploaded" and row.status == "uploaded"):
            chosen[row.dataset_id] = row
    for dataset_id, row in chosen.items():
        bind.execute(
            _datasets.update()
            .where(_datasets.c.id == dataset_id)
            .values(
                status=_NEW_TO_OLD.get(row.status, "upload_failed"),
                provider=row.provider,
                provider_file_id=row.file_id,
                error=row.error,
            )
        )
    # A dataset that never reached a provider reads as a failed upload: sending it retries.
    bind.execute(
        _datasets.update().where(_datasets.c.status.is_(None)).values(status="upload_failed")
    )


def _link_answers(bind: sa.Connection) -> None:
    turn, answer = _turns, _answers
    pairs = bind.execute(
        sa.select(
            answer.c.id.label("answer_id"),
            turn.c.id.label("turn_id"),
            answer.c.created_at.label("answered_at"),
            turn.c.created_at.label("turned_at"),
            answer.c.message_ts.label("reply_ts"),
            turn.c.message_ts.label("question_ts"),
            (answer.c.model != turn.c.model).label("other_model"),
            (answer.c.provider.is_distinct_from(turn.c.provider)).label("other_provider"),
            (answer.c.user_id.is_distinct_from(turn.c.user_id)).label("other_user"),
            (turn.c.outcome != "answered").label("not_answered"),
        ).join(
            turn,
            (turn.c.channel_id == answer.c.channel_id) & (turn.c.thread_ts == answer.c.thread_ts),
        )
    ).all()
    ranked = []
    for pair in pairs:
        apart = abs(_utc(pair.answered_at) - _utc(pair.turned_at))
        if apart > MATCH_WINDOW or _after(pair.question_ts, pair.reply_ts):
            continue
        misses = sum(
            bool(x) for x in (pair.other_model, pair.other_provider, pair.other_user)
        ) + bool(pair.not_answered)
        ranked.append((misses, apart, pair.answer_id, pair.turn_id))
    links: dict[int, int] = {}
    taken: set[int] = set()
    for _misses, _apart, answer_id, turn_id in sorted(ranked):
        if answer_id not in links and turn_id not in taken:
            links[answer_id] = turn_id
            taken.add(turn_id)
    _set_turns(bind, links)
    orphans = bind.execute(sa.select(answer).where(answer.c.turn_id.is_(None))).all()
    rebuilt = {
        orphan.id: bind.execute(
            turn.insert()
            .values(
                {
                    **{name: orphan._mapping[name] for name in _COPIED},
                    "message_ts": orphan.thread_ts,  # the question's own ts was never stored
                    "outcome": "answered",
                }
            )
            .returning(turn.c.id)
        ).scalar_one()
        for orphan in orphans
    }
    _set_turns(bind, rebuilt)


def _set_turns(bind: sa.Connection, links: dict[int, int]) -> None:
    if links:
        bind.execute(
            _answers.update()
            .where(_answers.c.id == sa.bindparam("answer_id"))
            .values(turn_id=sa.bindparam("linked_turn")),
            [{"answer_id": a, "linked_turn": t} for a, t in links.items()],
        )


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _after(question_ts: str, reply_ts: str) -> bool:
    """Whether the question was posted after the reply (so the reply cannot be its answer)."""
    try:
        return Decimal(question_ts) > Decimal(reply_ts)
    except InvalidOperation:
        return False  # not Slack's "seconds.micros": time alone decides


def _check_foreign_keys(bind: sa.Connection) -> None:
    # SQLite rebuilt tables with its foreign keys off (see env.py): check them now.
    if bind.dialect.name != "sqlite":
        return
    broken = bind.execute(sa.text("PRAGMA foreign_key_check")).all()
    if broken:
        raise RuntimeError(f"foreign keys broken after migration 0008: {broken[:5]}")
