"""Engine and sessions: SQLite file by default, PostgreSQL by URL; migrations via Alembic."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")

SessionFactory = sessionmaker[Session]


class DatabaseUnavailable(Exception):
    """DATABASE_URL cannot be used: malformed, or naming a server or file that cannot be opened.

    The message is one line for whoever starts tunebot; it names DATABASE_URL and never
    contains the password.
    """


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
    _parse(url)
    pool = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW}
    if url.startswith("sqlite"):
        connect_args = {
            "timeout": BUSY_SECONDS,
            "check_same_thread": False,
            "factory": _queued_writers(),
        }
        if make_url(url).database in (None, "", ":memory:"):
            pool = {}  # an in-memory database lives in one connection, not a queue of them
        engine = create_engine(url, connect_args=connect_args, **pool, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool, **kwargs)


BUSY_SECONDS = 30  # how long a SQLite writer waits for another's transaction to end


def _queued_writers() -> type[sqlite3.Connection]:
    """A connection class whose writers, within this process, queue for the write lock.

    SQLite lets one transaction write at a time. A writer that finds the lock taken sleeps
    in SQLite's busy handler, 1, 2, 5, 10, 15, 20, 25... ms at a time, so under a burst of answers
    (each claims its message and records its turn) writers slept well past the moment the
    lock came free. Here the engine's connections take a Python lock before their first
    write and give it back when the transaction ends, so the next writer starts at once.
    Other processes (web workers, `tunebot scheduler`) still meet SQLite's own lock.
    """
    write_lock = threading.Lock()

    class Cursor(sqlite3.Cursor):
        connection: QueuedWriters

        def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
            self.connection.before(sql)
            try:
                return super().execute(sql, parameters)
            finally:
                self.connection.after()

        def executemany(self, sql: str, parameters: Any, /) -> Cursor:
            self.connection.before(sql)
            try:
                return super().executemany(sql, parameters)
            finally:
                self.connection.after()

    class QueuedWriters(sqlite3.Connection):
        holding = False

        def before(self, sql: str) -> None:
            if not self.holding and sql.lstrip()[:7].upper().startswith(_WRITES):
                # Bounded like SQLite's own wait: past it, SQLite reports the lock as before.
                self.holding = write_lock.acquire(timeout=BUSY_SECONDS)

        def after(self) -> None:
            if self.holding and not self.in_transaction:  # autocommit: nothing left to end
                self._release()

        def cursor(self, factory: Any = Cursor) -> Any:
            return super().cursor(factory)

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._release()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._release()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._release()

        def _release(self) -> None:
            if self.holding:
                self.holding = False
                write_lock.release()

    return QueuedWriters


# Statements that open a write transaction (sqlite3 begins one implicitly before them).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


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


def alembic_config(engine: Engine, *, provider: str = "openai") -> Config:
    # Alembic is imported where a migration runs, never by a bot that only serves: its
    # modules are about 11 MB of a long-lived process's memory.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    # Rows from before models knew where they are served get the deployment's provider.
    config.attributes["default_provider"] = provider
    return config


def upgrade(engine: Engine, revision: str = "head", *, provider: str = "openai") -> None:
    """Bring the schema to `revision`; safe to call on every start and from many replicas.

    `provider` is the deployment's default provider (TUNEBOT_PROVIDER): what an existing
    active model, history row and turn were answered by before the provider was stored.
    """
    from alembic import command

    command.upgrade(alembic_config(engine, provider=provider), revision)


def upgrade_apart(url: str, *, provider: str = "openai") -> None:
    """`upgrade` to head in a child process, for the long-lived `tunebot run` and `scheduler`:
    the child holds Alembic's modules and exits, so the bot never does. The URL travels on
    the child's stdin, never on its command line; a failure is DatabaseUnavailable's one line.
    """
    result = subprocess.run(
        [sys.executable, "-m", "storage.migrate"],
        input=json.dumps({"url": url, "provider": provider}),
        capture_output=True,
        text=True,
        timeout=3600,  # a large table's migration may take a while; it must not hang forever
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["the migration stopped without a word"]
        raise DatabaseUnavailable(f"could not upgrade the database (DATABASE_URL): {lines[-1]}")


def _parse(url: str) -> URL:
    """The URL, or DatabaseUnavailable saying what is wrong with it (never echoing it)."""
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):
        raise DatabaseUnavailable(
            "DATABASE_URL is not a database URL such as postgresql://user:password@host:5432/db "
            "(a port must be a number, and @ : / in a password percent-encoded)"
        ) from None
    if port is not None and not 1 <= port <= 65535:
        raise DatabaseUnavailable(f"DATABASE_URL has port {port}; a port is 1 to 65535")
    return parsed


def check_connection(engine: Engine) -> None:
    """Open one connection, or raise DatabaseUnavailable saying in one line why it failed."""
    url = engine.url
    where = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        folder = Path(str(url.database)).absolute().parent
        if not folder.is_dir():
            raise DatabaseUnavailable(
                f"DATABASE_URL names a SQLite file in {folder}, a folder that does not exist; "
                "create it or point DATABASE_URL elsewhere"
            )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, ValueError) as error:
        reason = _first_line(getattr(error, "orig", None) or error, url.password)
        raise DatabaseUnavailable(
            f"cannot connect to the database at {where} (DATABASE_URL): {reason}"
        ) from None


def _first_line(error: BaseException, password: str | None) -> str:
    """The driver's own reason, shortened to what a person acts on, password masked."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = lines[0] if lines else type(error).__name__
    # psycopg: 'connection failed: connection to server at "h", port 5432 failed: FATAL: ...'
    reason = reason.rpartition(" failed: ")[2] if " failed: " in reason else reason
    reason = " ".join(reason.split())
    if password:
        reason = reason.replace(password, "***")
    return reason


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
