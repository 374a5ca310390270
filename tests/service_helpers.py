"""Starting `tunebot run` as its own process against the emulators, for the process tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from admin.providers.registry import Registry
from emulators.openai import OpenAIEmulator
from emulators.sandbox_serve import emulated_provider_env
from emulators.slack import SlackEmulator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env(
    slack: SlackEmulator, openai: OpenAIEmulator, port: int, **extra: str
) -> dict[str, str]:
    """The environment `tunebot run` needs to serve `port` with the emulators' credentials."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        # The model provider's variables as its settings declare them, as Sandbox.open sets them.
        **emulated_provider_env(openai, ("openai",), Registry.discover()),
        "PORT": str(port),
        **extra,
    }


def run_briefly(tmp_path: Path, **extra: str) -> tuple[int, str]:
    """Start `tunebot run`, wait until it serves, stop it; its exit status and stderr."""
    port = free_port()
    with SlackEmulator() as slack, OpenAIEmulator() as openai:
        process = start_tunebot_run(service_env(slack, openai, port, **extra), tmp_path)
        try:
            slack.wait_for(lambda: _healthy(port) or process.poll() is not None, timeout=60)
        finally:
            process.terminate()
            stderr = process.communicate(timeout=30)[1]
    return process.returncode, stderr


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_tunebot_run(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """`tunebot run` as its own process, its log on a pipe (read it with communicate())."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
    )
