"""`tunebot scheduler` alone: a separate process polls, swaps the model in and announces it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from emulators.sandbox import Sandbox
from storage import repo
from storage.repo import ModelRef
from tests.sandbox_helpers import NOTIFY, channel_texts, command, only_job, upload


def test_the_scheduler_command_carries_a_job_through(box: Sandbox, tmp_path: Path) -> None:
    upload(box)
    command(box, "train ds-1")
    model = box.openai.succeed_job(only_job(box).provider_job_id)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": box.slack.bot_token,
        "SLACK_SIGNING_SECRET": box.slack.signing_secret,
        "SLACK_API_URL": box.slack.api_url,
        "OPENAI_API_KEY": box.openai.api_key,
        "OPENAI_BASE_URL": box.openai.base_url,
        "DATABASE_URL": box.settings.database_url,
        "TUNEBOT_POLL_SECONDS": "1",
        "TUNEBOT_NOTIFY_CHANNEL": NOTIFY,
    }
    binary = str(Path(sys.executable).parent / "tunebot")
    process = subprocess.Popen(
        [binary, "scheduler"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        box.slack.wait_for(
            lambda: [t for t in channel_texts(box, NOTIFY) if model in t], timeout=30
        )
    finally:
        process.terminate()
        stderr = process.communicate(timeout=20)[1]
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=ModelRef("openai", "?")).model == model
    assert process.returncode == 0, stderr
    assert box.openai.api_key not in stderr
