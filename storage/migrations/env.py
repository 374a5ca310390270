"""Alembic environment: runs migrations on the engine handed in by storage.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from storage.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    if connection.dialect.name == "postgresql":
        # Replicas starting together must not race to create the same tables.
        connection.execute(text("SELECT pg_advisory_lock(7305001)"))
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(7305001)"))
            connection.commit()
