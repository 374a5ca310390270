"""Fixtures shared by the test modules: a fresh database per test on SQLite and on PostgreSQL,
the bot sandbox, and the tiny model the local-training tests train."""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import pytest
from sqlalchemy import create_engine, text

from admin.providers.registry import Registry
from emulators.openai import OpenAIEmulator
from storage.db import SessionFactory, build_engine, build_session_factory, normalise_url, upgrade
from tests import postgres_server
from tests.provider_drivers import LOCAL_STATUSES, Driver, LocalDriver, hosted_driver

if TYPE_CHECKING:
    from emulators.sandbox import Sandbox
    from emulators.slack import SlackEmulator
    from tests.slack_helpers import Receiver

# The tests train tiny models, several at once under xdist, in child processes that inherit
# this environment. With torch's default of one OpenMP thread per core those threads spin
# against each other on a small machine; one each halved a training test's CPU and wall time
# on 2 cores. A value already set is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# The PostgreSQL server of this session (see tests/postgres_server.py), settled by
# pytest_configure before any test module is imported. Under pytest-xdist the controller
# settles it and its workers find it in $TUNEBOT_TEST_POSTGRES_URL.
POSTGRES_URL = os.environ.get(postgres_server.VARIABLE) or postgres_server.MACHINE_URL
_embedded: postgres_server.EmbeddedServer | None = None
_postgres_header = ""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default="sqlite,postgresql",
        help="databases to run the database tests on (default: sqlite,postgresql). PostgreSQL: "
        f"${postgres_server.VARIABLE} if set ('{postgres_server.EMBEDDED}': the embedded "
        f"server), else {postgres_server.MACHINE_URL} if it answers, else an embedded server "
        "started for the session",
    )


def _backends(config: pytest.Config) -> list[str]:
    return [b.strip() for b in config.getoption("--db").split(",") if b.strip()]


def pytest_configure(config: pytest.Config) -> None:
    global POSTGRES_URL, _embedded, _postgres_header
    if "postgresql" not in _backends(config) or config.option.help or config.option.collectonly:
        return
    configured = os.environ.get(postgres_server.VARIABLE)
    if configured and configured != postgres_server.EMBEDDED:
        # Ours from the controller (an xdist worker), or the user's: used as it is.
        POSTGRES_URL = configured
        _postgres_header = f"PostgreSQL: {configured} (from ${postgres_server.VARIABLE})"
        return
    choice = postgres_server.choose(configured)
    if choice.url is None:
        _embedded = postgres_server.EmbeddedServer()
        try:
            url = _embedded.start()
        except Exception:
            _embedded.stop()
            raise
        _postgres_header = f"PostgreSQL: {_embedded.label} at {url} ({choice.why})"
    else:
        url = choice.url
        _postgres_header = f"PostgreSQL: {url} ({choice.why})"
    POSTGRES_URL = url
    # Workers and the `tunebot` processes tests start inherit the environment.
    os.environ[postgres_server.VARIABLE] = url


def pytest_unconfigure(config: pytest.Config) -> None:
    global _embedded
    if _embedded is not None:
        _embedded.stop()
        _embedded = None


def pytest_report_header(config: pytest.Config) -> str | None:
    return _postgres_header or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that train a model first (their modules need tunebot[train]): they take
    most of the run, so under xdist the workers share them out from the start and the short
    tests fill in around them, instead of one training starting late and finishing last."""
    items.sort(key=lambda item: not hasattr(getattr(item, "module", None), "require_train_extra"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames:
        metafunc.parametrize("db_backend", _backends(metafunc.config), scope="function")
    if "provider_name" in metafunc.fixturenames:
        # Every installed provider; the local one (whose "API" is tunebot's database) on each
        # database, like every database test.
        names = [n for n in Registry.discover() if n != "local"]
        names += [f"local-{backend}" for backend in _backends(metafunc.config)]
        metafunc.parametrize("provider_name", names, scope="function")


@pytest.fixture
def database_url(db_backend: str, tmp_path: os.PathLike[str]) -> Iterator[str]:
    with fresh_database(db_backend, tmp_path) as url:
        yield url


@contextlib.contextmanager
def fresh_database(db_backend: str, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """An empty database's URL: a SQLite file, or a PostgreSQL schema dropped afterwards."""
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
            f"start it, set {postgres_server.VARIABLE}, or run with --db sqlite",
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
def box(database_url: str) -> Iterator[Sandbox]:
    """The sandbox with an admin (`ADMIN`) and a channel for job notices (`NOTIFY`)."""
    from emulators.sandbox import Sandbox
    from tests.sandbox_helpers import ADMIN, NOTIFY

    with Sandbox.open(
        database_url=database_url, admins=frozenset({ADMIN}), notify_channel=NOTIFY
    ) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        b.slack.add_channel("ml", channel_id=NOTIFY)
        yield b


def _built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Any]) -> Path:
    """A folder that `build` fills once per test run, however many xdist workers ask for it:
    the first builds it in the run's shared temporary folder under a lock, the others wait
    for it and read the same files (pytest-xdist's recipe for session fixtures)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = factory.mktemp(name)
        build(folder)
        return folder
    shared = factory.getbasetemp().parent  # the run's folder, above every worker's own
    folder, built = shared / name, shared / f"{name}.built"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            built.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama chat model folder, built once per test run (tests only read it)."""
    from emulators.tiny_model import build_tiny_model
    from tests.local_helpers import QA

    def build(folder: Path) -> None:
        build_tiny_model(folder, extra_text=[f"{q} {a}" for q, a in QA])

    return _built_once(tmp_path_factory, "tiny-model", build)


ADAPTER = "tunebot-qa-00000000"


@pytest.fixture(scope="session")
def trained_adapter(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An adapter trained on QA (in `<models>/tunebot-qa-00000000`), trained once per run."""
    from tests.local_helpers import FAST, chat_jsonl
    from trainer.runner import run_in_child
    from trainer.spec import Message, TrainSpec

    def build(root: Path) -> None:
        spec = TrainSpec(
            run_id=0,
            base_model=str(tiny_model),
            train_path=str(chat_jsonl(root / "train.jsonl")),
            validation_path=None,
            adapter_dir=str(root / "models" / ADAPTER),
            work_dir=str(root / "work"),
            options=FAST,
        )
        outcome = run_in_child(spec, on_message=lambda *a: None)
        assert outcome.final is Message.DONE, outcome.data

    return _built_once(tmp_path_factory, "trained", build) / "models" / ADAPTER


@pytest.fixture
def provider_case(
    provider_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Driver]:
    """A provider built from its settings, as `tunebot run` builds it, against its emulator."""
    registry = Registry.discover()
    if not provider_name.startswith("local-"):
        with hosted_driver(provider_name, registry) as driver:
            yield driver
        return
    missing = [
        m for m in ("torch", "transformers", "peft", "trl") if not importlib.util.find_spec(m)
    ]
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI must install tunebot[train]; missing {', '.join(missing)}")
    if missing:
        pytest.skip(f"the local provider needs tunebot[train] ({', '.join(missing)} missing)")
    from emulators.vllm import VllmEmulator

    model = request.getfixturevalue("tiny_model")
    with (
        fresh_database(provider_name.removeprefix("local-"), tmp_path) as url,
        VllmEmulator(model, max_lora_rank=16) as vllm,
    ):
        engine = build_engine(url)
        upgrade(engine)
        models = tmp_path / "models"
        yield LocalDriver(
            "local",
            {"TUNEBOT_VLLM_URL": vllm.base_url, "TUNEBOT_MODEL_DIR": str(models)},
            vllm.served_name,
            LOCAL_STATUSES,
            registry=registry,
            session_factory=build_session_factory(engine),
            data_dir=tmp_path / "data",
            models=models,
        )
        engine.dispose()


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
