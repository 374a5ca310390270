"""Alembic environment: runs migrations on the engine handed in by storage.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from storage.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a SQLite table: copy, DROP, rename. With foreign keys
        # on, that DROP deletes the rows that reference the table (ON DELETE CASCADE) or
        # fails; SQLite's own advice is to turn them off for the rebuild, which works only
        # outside a transaction. Migrations that rebuild check the keys themselves.
        connection.execute(text("PRAGMA foreign_keys=OFF"))
        connection.commit()
    if connection.dialect.name == "postgresql":
        # Replicas starting together must not race to create the same tables.
        connection.execute(text("SELECT pg_advisory_lock(7305001)"))
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(7305001)"))
            connection.commit()
        if sqlite:
            connection.rollback()
            connection.execute(text("PRAGMA foreign_keys=ON"))  # as every connection has it
            connection.commit()
