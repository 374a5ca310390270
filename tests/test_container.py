"""The Dockerfile stays honest: it lints clean, and its start and health commands work."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulators.openai import OpenAIEmulator
from emulators.slack import SlackEmulator
from tests.service_helpers import free_port, service_env

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _exec_form(instruction: str) -> list[str]:
    match = re.search(rf"^{instruction}\s+(\[.*\])\s*$", DOCKERFILE, re.MULTILINE)
    assert match, f"the Dockerfile has no exec-form {instruction}"
    return list(json.loads(match.group(1)))


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_and_checks_health() -> None:
    assert re.search(r"^USER\s+(?!0\b|root\b)\S+", DOCKERFILE, re.MULTILINE)
    assert "HEALTHCHECK" in DOCKERFILE


def test_the_images_start_and_health_commands_serve_slack(tmp_path: Path) -> None:
    command = _exec_form("CMD")
    health_line = re.search(r'CMD \["tunebot", "healthcheck"\]', DOCKERFILE)
    assert command == ["tunebot", "run"] and health_line
    binary = str(Path(sys.executable).parent / "tunebot")
    port = free_port()
    with SlackEmulator() as slack, OpenAIEmulator() as openai:
        env = service_env(slack, openai, port)
        process = subprocess.Popen(
            [binary, *command[1:]], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
        )
        try:
            healthy = 1
            deadline = time.monotonic() + 60
            while healthy != 0 and time.monotonic() < deadline:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                healthy = subprocess.run(
                    [binary, "healthcheck"], env=env, capture_output=True, timeout=30
                ).returncode
                time.sleep(0.2)
            assert healthy == 0
            user = slack.add_user("minji")
            channel = slack.add_channel("general")
            slack.events_url = f"http://127.0.0.1:{port}/slack/events"
            asked = slack.post_as_user(user, channel, f"<@{slack.bot_user_id}> hello")
            reply = slack.wait_for(
                lambda: [m for m in slack.messages(channel, asked.ts) if m.get("bot_id")],
                timeout=30,
            )
            assert reply[0]["text"].startswith("[gpt-4o-mini")
            assert (tmp_path / "tunebot.db").exists()  # the default SQLite file, in the workdir
        finally:
            process.terminate()
            stderr = process.communicate(timeout=20)[1]
        assert process.returncode == 0, stderr
        assert slack.bot_token not in stderr and openai.api_key not in stderr


@pytest.mark.parametrize("variable", ["SLACK_BOT_TOKEN", "OPENAI_API_KEY"])
def test_the_start_command_refuses_to_run_without_credentials(
    tmp_path: Path, variable: str
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
        "OPENAI_API_KEY": "sk-test",
    }
    del env[variable]
    binary = str(Path(sys.executable).parent / "tunebot")
    result = subprocess.run(
        [binary, "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert variable in result.stderr and "Traceback" not in result.stderr
