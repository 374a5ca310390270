"""Start-up failures are one line on stderr and exit 2: no traceback, never a password."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url

from emulators.openai import OpenAIEmulator
from emulators.slack import SlackEmulator
from tests.conftest import POSTGRES_URL
from tests.service_helpers import free_port, service_env

PASSWORD = "hunter2-do-not-print"


def _tunebot(tmp_path: Path, env: dict[str, str], *command: str) -> tuple[int, str]:
    """Run a `tunebot` command to its end (it must fail); its exit status and stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stderr


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and PASSWORD not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def _fails_at_start(tmp_path: Path, command: tuple[str, ...], **extra: str) -> str:
    with SlackEmulator() as slack, OpenAIEmulator() as openai:
        env = service_env(slack, openai, free_port(), **extra)
        returncode, stderr = _tunebot(tmp_path, env, *command)
    assert returncode == 2, stderr
    return stderr


def _closed_port() -> int:
    return free_port()  # nothing listens there once the probe socket is closed


SERVICES = [("run",), ("scheduler",), ("db", "upgrade")]


@pytest.mark.parametrize("command", SERVICES, ids=" ".join)
def test_an_unreachable_database_is_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    url = f"postgresql://tunebot:{PASSWORD}@127.0.0.1:{_closed_port()}/tunebot"
    line = _one_line(_fails_at_start(tmp_path, command, DATABASE_URL=url))
    assert line.startswith("tunebot: cannot start: cannot connect to the database at ")
    assert "DATABASE_URL" in line and "refused" in line


@pytest.mark.parametrize("command", SERVICES, ids=" ".join)
def test_a_role_postgresql_does_not_know_is_one_line_without_the_password(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # Against the suite's PostgreSQL server: without one this fails, as CI must.
    url = make_url(POSTGRES_URL).set(username="no_such_role", password=PASSWORD)
    url_text = url.render_as_string(hide_password=False)
    line = _one_line(_fails_at_start(tmp_path, command, DATABASE_URL=url_text))
    assert 'role "no_such_role" does not exist' in line and "***" in line
    typed = url_text.replace(f":{PASSWORD}@", ":***@")
    assert f"cannot connect to the database at {typed} (DATABASE_URL)" in line


@pytest.mark.parametrize("command", SERVICES, ids=" ".join)
def test_the_database_url_is_shown_as_typed_with_its_password_masked(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # Not as the engine rewrites it for its driver (postgresql+psycopg://).
    url = f"postgres://u:{PASSWORD}@127.0.0.1:{_closed_port()}/x?sslmode=disable"
    line = _one_line(_fails_at_start(tmp_path, command, DATABASE_URL=url))
    shown = url.replace(PASSWORD, "***")
    assert line.startswith(f"tunebot: cannot start: cannot connect to the database at {shown} ")


@pytest.mark.parametrize("command", SERVICES, ids=" ".join)
def test_a_sqlite_file_in_a_missing_folder_is_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    url = f"sqlite:///{missing}/tunebot.db"
    line = _one_line(_fails_at_start(tmp_path, command, DATABASE_URL=url))
    assert f"SQLite file in {missing}, a folder that does not exist" in line
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("port", ["abc", "99999"])
def test_a_bad_port_in_the_database_url_is_one_line(tmp_path: Path, port: str) -> None:
    url = f"postgresql://tunebot:{PASSWORD}@127.0.0.1:{port}/tunebot"
    line = _one_line(_fails_at_start(tmp_path, ("run",), DATABASE_URL=url))
    assert line.startswith("tunebot: cannot start: DATABASE_URL ") and "port" in line


def _slack_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    return _one_line(stderr)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_slack_host_that_does_not_resolve_is_one_line(tmp_path: Path, workers: str) -> None:
    extra = {
        "SLACK_API_URL": "https://slack.invalid/api/",  # .invalid never resolves (RFC 2606)
        "DATABASE_URL": f"sqlite:///{tmp_path}/tunebot.db",
        "TUNEBOT_WEB_WORKERS": workers,
    }
    line = _slack_line(_fails_at_start(tmp_path, ("run",), **extra))
    assert line.startswith("tunebot: cannot start: cannot reach Slack's API at https://slack")
    assert "(SLACK_API_URL)" in line
    assert not (tmp_path / "tunebot.db").exists()  # a failed start leaves no database file


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_bot_token_slack_refuses_is_one_line_without_the_token(
    tmp_path: Path, workers: str
) -> None:
    token = "xoxb-0000-not-this-workspaces-token"
    extra = {"SLACK_BOT_TOKEN": token, "TUNEBOT_WEB_WORKERS": workers}
    stderr = _fails_at_start(tmp_path, ("run",), **extra)
    line = _slack_line(stderr)
    assert line == "tunebot: cannot start: Slack refused SLACK_BOT_TOKEN: invalid_auth"
    assert token not in stderr
    # DATABASE_URL unset: the SQLite default in the working directory is never created.
    assert list(tmp_path.iterdir()) == []


def test_an_app_token_slack_refuses_is_one_line_without_the_token(tmp_path: Path) -> None:
    token = "xapp-1-not-this-apps-token"
    extra = {"SLACK_APP_TOKEN": token, "DATABASE_URL": f"sqlite:///{tmp_path}/tunebot.db"}
    stderr = _fails_at_start(tmp_path, ("run",), **extra)
    assert "Traceback" not in stderr and token not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last == "tunebot: cannot start: Slack refused SLACK_APP_TOKEN: invalid_auth"
