"""`tunebot sandbox` used as a person would: what it prints runs a real `tunebot run` against it."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.service_helpers import free_port

TUNEBOT = str(Path(sys.executable).parent / "tunebot")
LAST_LINE = "# Ctrl-C stops the sandbox."


@dataclass
class Printed:
    """What `tunebot sandbox` printed, read the way a person reads it."""

    text: str
    port: int

    @property
    def env(self) -> dict[str, str]:
        found = re.findall(r"^export (\w+)=(.*)$", self.text, re.MULTILINE)
        return {key: shlex.split(value)[0] for key, value in found}

    def block(self, heading: str) -> str:
        """The commands under the comment line that starts with `heading`, up to a blank line."""
        lines = self.text.split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith(heading))
        rest = lines[start + 1 :]
        return "\n".join(rest[: rest.index("")])

    def curl(self) -> tuple[str, dict[str, str], bytes]:
        """The URL, headers and body of the signed curl example."""
        words = shlex.split(self.block("# 2.").replace("\\\n", " "))
        headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
        body = words[words.index("--data-raw") + 1].encode()
        url = next(word for word in words if word.startswith("http"))
        return url, headers, body


def _start_sandbox(cwd: Path, *extra: str) -> tuple[subprocess.Popen[str], Printed]:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd)}
    process = subprocess.Popen(
        [
            TUNEBOT,
            "sandbox",
            "--port",
            str(port),
            "--slack-port",
            "0",
            "--openai-port",
            "0",
            *extra,
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # a hung start fails the test, not the run
    watchdog.start()
    assert process.stdout is not None
    lines: list[str] = []
    while (line := process.stdout.readline()) and line.rstrip("\n") != LAST_LINE:
        lines.append(line)
    watchdog.cancel()
    assert line, f"the sandbox stopped early: {process.communicate()}"
    return process, Printed("".join(lines), port)


def _stop(process: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    process.send_signal(sig)
    out, _ = process.communicate(timeout=30)
    return process.returncode, out


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox")


@pytest.fixture(scope="module")
def sandbox(folder: Path) -> Iterator[Printed]:
    """One sandbox for the tests that read its output and talk to it; Ctrl-C ends it."""
    process, printed = _start_sandbox(folder)
    try:
        yield printed
    finally:
        if process.poll() is None:
            code, out = _stop(process, signal.SIGINT)
            assert code == 0 and "sandbox stopped" in out


@pytest.fixture(scope="module")
def bot(sandbox: Printed, folder: Path) -> Iterator[Path]:
    """`tunebot run` with exactly the variables the sandbox printed."""
    with _tunebot_run(sandbox, folder) as log:
        yield log


@contextlib.contextmanager
def _tunebot_run(printed: Printed, folder: Path, **changed: str) -> Iterator[Path]:
    """`tunebot run` in `folder` with the variables `printed` says (and `changed`); its log."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder)} | printed.env | changed
    with (folder / "bot.log").open("wb") as log:
        process = subprocess.Popen([TUNEBOT, "run"], env=env, cwd=folder, stderr=log)
    try:
        _wait_healthy(process, printed.port, folder / "bot.log")
        yield folder / "bot.log"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    # The port came from free_port(): until this bot says it holds it, a health answer there
    # could come from another process that took it meanwhile.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if f"listening on :{port} " in log.read_text():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"tunebot run did not come up:\n{log.read_text()}")


def test_the_printed_variables_point_tunebot_run_at_the_emulators(sandbox: Printed) -> None:
    env = sandbox.env
    assert env["SLACK_API_URL"].startswith("http://127.0.0.1:")
    assert env["OPENAI_BASE_URL"].startswith("http://127.0.0.1:")
    assert env["SLACK_BOT_TOKEN"].startswith("xoxb-") and env["SLACK_SIGNING_SECRET"]
    assert env["OPENAI_API_KEY"] and env["PORT"] == str(sandbox.port)
    assert env["TUNEBOT_ADMINS"] and env["TUNEBOT_NOTIFY_CHANNEL"].startswith("C")
    assert f"Slack sends events to http://127.0.0.1:{sandbox.port}/slack/events." in sandbox.text


def test_the_curl_example_is_signed_for_its_body_and_timestamp(sandbox: Printed) -> None:
    url, headers, body = sandbox.curl()
    timestamp = headers["X-Slack-Request-Timestamp"]
    base = f"v0:{timestamp}:".encode() + body
    secret = sandbox.env["SLACK_SIGNING_SECRET"].encode()
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    assert headers["X-Slack-Signature"] == expected
    assert url == f"http://127.0.0.1:{sandbox.port}/slack/events"
    assert b'"type":"app_mention"' in body


def _bash(script: str) -> subprocess.CompletedProcess[str]:
    """Printed shell lines, pasted into bash."""
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def _printed_answer(read_back: str, log: Path, saying: str) -> str:
    """Run the printed read-back again, as its message asks, until it prints tunebot's answer
    (the answer streams in: its first text may be only the start)."""
    deadline = time.monotonic() + 90  # generous: a loaded machine, not a measurement
    while time.monotonic() < deadline:
        result = _bash(read_back)
        if result.returncode == 0 and saying in result.stdout:
            return result.stdout
        assert result.returncode == 0 or result.stdout.startswith("no answer yet ("), result
        time.sleep(0.2)
    raise AssertionError(f"no answer from tunebot; its log:\n{log.read_text()}")


NEEDS_SHELL_TOOLS = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "curl", "openssl", "python3")),
    reason="the printed commands need bash, curl, openssl and python3",
)


@NEEDS_SHELL_TOOLS
def test_the_printed_curl_says_the_bot_took_the_mention_and_the_read_back_prints_its_answer(
    tmp_path: Path, database_url: str
) -> None:
    # Steps 2 and 3 as printed, against a bot on each database (DATABASE_URL changed).
    process, printed = _start_sandbox(tmp_path)
    try:
        with _tunebot_run(printed, tmp_path, DATABASE_URL=database_url) as log:
            posted = _bash(printed.block("# 2."))
            assert (posted.returncode, posted.stdout) == (0, "HTTP 200\n"), posted.stderr
            read_back = printed.block("# 3.")
            answer = _printed_answer(read_back, log, saying="when do we deploy on Fridays?")
    finally:
        assert _stop(process, signal.SIGINT)[0] == 0
    # The answer's words, one message a line, not conversations.replies' JSON.
    assert answer.startswith("[gpt-4o-mini-2024-07-18]")  # the emulated model, named
    assert answer.count("\n") == 1 and '"messages"' not in answer


@NEEDS_SHELL_TOOLS
def test_the_printed_recipe_signs_a_fresh_mention_and_reads_back_its_own_thread(
    sandbox: Printed, bot: Path
) -> None:
    recipe = sandbox.block("# Slack's signatures expire")
    result = _bash(recipe + '\necho "ts=$ts"')
    assert result.stdout.startswith("HTTP 200\n"), result.stdout + result.stderr
    ts = re.search(r"^ts=(\d+)$", result.stdout, re.MULTILINE)
    assert ts is not None, result.stdout
    # Its read-back is of the new mention's thread: its answer, or "no answer yet" (then
    # the printed advice is to run the last two lines again).
    read_back = "\n".join(recipe.splitlines()[-2:])
    assert "ts=$ts.000100" in read_back
    printed = result.stdout.split("\n", 1)[1]
    if "when do we deploy on Fridays?" not in printed:
        assert printed.startswith("no answer yet ("), printed
        printed = _printed_answer(f"ts={ts.group(1)}\n{read_back}", bot, "when do we deploy")
    assert printed.startswith("[gpt-4o-mini-2024-07-18]")


def test_sigterm_stops_the_sandbox_cleanly(tmp_path: Path) -> None:
    process, _ = _start_sandbox(tmp_path)
    code, out = _stop(process, signal.SIGTERM)
    assert code == 0 and out.strip().endswith("sandbox stopped")


def test_events_go_where_events_url_says(tmp_path: Path) -> None:
    process, printed = _start_sandbox(tmp_path, "--events-url", "http://127.0.0.1:8080/hooks/slack")
    try:
        url, _, _ = printed.curl()
        assert url == "http://127.0.0.1:8080/hooks/slack"
        assert "Slack sends events to http://127.0.0.1:8080/hooks/slack." in printed.text
    finally:
        assert _stop(process, signal.SIGINT)[0] == 0


def test_the_emulators_listen_on_the_ports_given(tmp_path: Path) -> None:
    slack, openai = free_port(), free_port()
    process, printed = _start_sandbox(
        tmp_path, "--slack-port", str(slack), "--openai-port", str(openai)
    )
    try:
        assert printed.env["SLACK_API_URL"] == f"http://127.0.0.1:{slack}/api/"
        assert printed.env["OPENAI_BASE_URL"] == f"http://127.0.0.1:{openai}/v1"
    finally:
        assert _stop(process, signal.SIGINT)[0] == 0


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [TUNEBOT, "sandbox", "--slack-port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.startswith(f"tunebot: sandbox: cannot listen on 127.0.0.1:{port}")
    assert result.stderr.count("\n") == 1
