"""Engine and sessions: SQLite file by default, PostgreSQL by URL; migrations via Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")

SessionFactory = sessionmaker[Session]


def normalise_url(url: str) -> str:
    """Route PostgreSQL through psycopg 3, which is what the package installs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Kept open: about as many as the bot's threads that touch the database at once (the
# listener pool and the HTTP threads). A connection opened past the pool is closed after
# use, and reopening one per transaction under a burst cost more than the transaction.
POOL_SIZE = 20
MAX_OVERFLOW = 30


def build_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    pool = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}
    if url.startswith("sqlite"):
        connect_args = {"timeout": 30, "check_same_thread": False}
        if make_url(url).database in (None, "", ":memory:"):
            pool = {}  # an in-memory database lives in one connection, not a queue of them
        engine = create_engine(url, connect_args=connect_args, **pool, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the bot's threads read while one writes; busy_timeout queues writers.
    # synchronous=NORMAL is WAL's recommended pairing: no fsync per commit, and a crash of
    # the process loses nothing (only a power cut can drop the last transactions).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def build_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call on every start and from many replicas."""
    command.upgrade(alembic_config(engine), revision)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
