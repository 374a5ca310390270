"""The suite finds a PostgreSQL server on any machine: the configured one, the machine's, or
an embedded one it starts itself, so `pytest` passes on a fresh machine with none installed."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from tests.postgres_server import EMBEDDED, VARIABLE, choose

ROOT = Path(__file__).resolve().parent.parent
INNER = ("--db", "postgresql", "tests/test_storage.py")  # migrations and repositories


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/test"  # nothing listens there now


def test_a_machine_server_that_does_not_answer_means_an_embedded_one() -> None:
    closed = _closed_port_url()

    choice = choose(None, machine_url=closed)

    assert choice.url is None
    assert closed in choice.why and "refused" in choice.why


def test_a_configured_server_is_used_even_when_it_does_not_answer() -> None:
    # Testing somewhere else than asked would hide a broken CI server; the tests fail instead.
    configured = _closed_port_url()

    assert choose(configured, machine_url=_closed_port_url()).url == configured


def test_the_postgresql_tests_pass_on_an_embedded_server_shared_by_xdist_workers() -> None:
    # The inner run is a session of its own, not one of this run's xdist workers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env[VARIABLE] = EMBEDDED
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "-v", *INNER],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    header = re.search(r"^PostgreSQL: embedded PostgreSQL .* at (\S+) ", result.stdout, re.M)
    assert header is not None, result.stdout[:2000]
    workers = set(re.findall(r"^\[(gw\d+)\].* PASSED tests/test_storage", result.stdout, re.M))
    assert workers == {"gw0", "gw1"}, result.stdout[-3000:]
    folder = Path(header.group(1).split("host=")[1]).parent
    assert folder.name.startswith("tunebot-pg-") and not folder.exists()  # gone with the run
    left = [p for p in psutil.process_iter(["cmdline"]) if str(folder) in str(p.info["cmdline"])]
    assert not left  # the server stopped with it
