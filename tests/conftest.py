"""Fixtures: a fresh database per test on SQLite and on PostgreSQL, and the bot sandbox."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import openai
import pytest
from sqlalchemy import create_engine, text

from emulators.openai import OpenAIEmulator
from storage.db import SessionFactory, build_engine, build_session_factory, normalise_url, upgrade

if TYPE_CHECKING:
    from emulators.sandbox import Sandbox
    from emulators.slack import SlackEmulator
    from tests.slack_helpers import Receiver

POSTGRES_URL = os.environ.get(
    "TUNEBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default="sqlite,postgresql",
        help="databases to run the database tests on (default: sqlite,postgresql; "
        f"PostgreSQL from $TUNEBOT_TEST_POSTGRES_URL or {POSTGRES_URL})",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames:
        backends = [b.strip() for b in metafunc.config.getoption("--db").split(",") if b.strip()]
        metafunc.parametrize("db_backend", backends, scope="function")


@pytest.fixture
def database_url(db_backend: str, tmp_path: os.PathLike[str]) -> Iterator[str]:
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path}/tunebot.db"
        return
    if db_backend != "postgresql":
        raise pytest.UsageError(f"--db: unknown database {db_backend!r}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL at {POSTGRES_URL} is unreachable ({type(error).__name__}); "
            "start it, set TUNEBOT_TEST_POSTGRES_URL, or run with --db sqlite",
            pytrace=False,
        )
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def session_factory(database_url: str) -> Iterator[SessionFactory]:
    engine = build_engine(database_url)
    upgrade(engine)
    yield build_session_factory(engine)
    engine.dispose()


@pytest.fixture
def emulator() -> Iterator[OpenAIEmulator]:
    """The OpenAI emulator alone, for tests of the SDK-facing code."""
    with OpenAIEmulator() as emu:
        yield emu


@pytest.fixture
def client(emulator: OpenAIEmulator) -> openai.OpenAI:
    """The real openai SDK pointed at `emulator`; no retries, so a fault shows at once."""
    return openai.OpenAI(base_url=emulator.base_url, api_key=emulator.api_key, max_retries=0)


@pytest.fixture
def sandbox(database_url: str) -> Iterator[Sandbox]:
    from emulators.sandbox import Sandbox

    with Sandbox.open(database_url=database_url) as box:
        yield box


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    """The Slack emulator alone, for tests of the emulator itself (a module may override it)."""
    from emulators.slack import SlackEmulator

    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def receiver(slack: SlackEmulator) -> Iterator[Receiver]:
    """A signature-checking request URL that the module's `slack` emulator sends events to."""
    from tests.slack_helpers import Receiver

    bot = Receiver(slack.signing_secret)
    slack.events_url = bot.url
    yield bot
    bot.server.shutdown()
    bot.server.server_close()
