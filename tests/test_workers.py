"""`tunebot run` with TUNEBOT_WEB_WORKERS: several processes serve one port, as one bot.

The process `tunebot run` starts is worker 0; the others are its children.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from emulators.openai import OpenAIEmulator
from emulators.slack import SlackEmulator
from tests.service_helpers import free_port, service_env, start_tunebot_run


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"


@pytest.fixture
def served(
    tmp_path: Path, database_url: str
) -> Iterator[tuple[SlackEmulator, OpenAIEmulator, subprocess.Popen[str]]]:
    port = free_port()
    with SlackEmulator() as slack, OpenAIEmulator() as openai:
        env = service_env(
            slack,
            openai,
            port,
            DATABASE_URL=database_url,
            TUNEBOT_WEB_WORKERS="2",
            TUNEBOT_SCHEDULER="off",
        )
        process = start_tunebot_run(env, tmp_path)
        try:
            slack.events_url = f"http://127.0.0.1:{port}/slack/events"
            deadline = time.monotonic() + 60
            while len(_children(process.pid)) < 1 or not _listening(port):
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the workers did not start listening"
                time.sleep(0.2)
            yield slack, openai, process
        finally:
            if process.poll() is None:
                process.terminate()
            process.communicate(timeout=30)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_every_mention_is_answered_once_across_the_workers(
    served: tuple[SlackEmulator, OpenAIEmulator, subprocess.Popen[str]],
) -> None:
    slack, openai, process = served
    mention = f"<@{slack.bot_user_id}>"
    users = [slack.add_user(f"user{i}") for i in range(4)]
    channels = [slack.add_channel(f"team{i}") for i in range(4)]

    def ask(n: int) -> tuple[str, str]:
        channel = channels[n % 4]
        return channel, slack.post_as_user(users[n % 4], channel, f"{mention} question {n}").ts

    with ThreadPoolExecutor(max_workers=8) as pool:
        asked = list(pool.map(ask, range(16)))

    def answers(channel: str, ts: str) -> list[dict[str, Any]]:
        return [
            m for m in slack.messages(channel, ts) if m.get("bot_id") and "question" in m["text"]
        ]

    for channel, ts in asked:
        replies = slack.wait_for(partial(answers, channel, ts), timeout=30)
        assert len(replies) == 1
    time.sleep(0.5)  # a second answer to any of them would have arrived by now
    for channel, ts in asked:
        assert len([m for m in slack.messages(channel, ts) if m.get("bot_id")]) == 1
    assert len(openai.state.chat_requests) == 16
    assert len(_children(process.pid)) == 1


def test_sigterm_stops_every_worker(
    served: tuple[SlackEmulator, OpenAIEmulator, subprocess.Popen[str]],
) -> None:
    _, _, process = served
    [child] = _children(process.pid)

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=30) == 0
    assert not _alive(child)


def test_a_worker_that_dies_takes_the_others_down_with_a_failure_status(
    served: tuple[SlackEmulator, OpenAIEmulator, subprocess.Popen[str]],
) -> None:
    _, _, process = served
    [child] = _children(process.pid)

    os.kill(child, signal.SIGKILL)

    assert process.wait(timeout=30) == 1
    assert process.stderr is not None and "stopping the others" in process.stderr.read()


def test_the_other_workers_stop_when_worker_0_is_killed(
    served: tuple[SlackEmulator, OpenAIEmulator, subprocess.Popen[str]],
) -> None:
    _, _, process = served
    [child] = _children(process.pid)

    process.kill()  # no chance to stop its workers itself

    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)
