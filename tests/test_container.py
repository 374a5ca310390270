"""The Dockerfile stays honest: it lints clean, and its start and health commands work."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import make_url

from bot.config import Settings
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


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(re-include?, pattern) per line of .dockerignore, with Docker's matching rules:
    `*` and `?` stay within a path segment, `**` spans segments, the last match decides."""
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] in "*?":
                regex, i = regex + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negated, re.compile(regex)))
    return rules


def _in_build_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negated, pattern in rules:
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            included = negated
    return included


def _tracked_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.split()


def _copied_sources() -> list[str]:
    """What the Dockerfile's COPY lines take from the build context."""
    sources = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    return [s.rstrip("/") for s in sources]


LOCAL_STATE = [
    ".venv/bin/python",
    ".env",
    ".env.production",
    "tunebot.db",
    "tunebot.db-wal",
    "data/ab/abcdef.jsonl",
    "bot/__pycache__/cli.cpython-311.pyc",
    ".pytest_cache/v/cache/nodeids",
    ".mypy_cache/3.11/bot.json",
    ".ruff_cache/0.6/123",
    ".git/HEAD",
    "bench/results/run.json",
    "tests/test_chat.py",
    "emulators/slack.py",
    "tunebot.egg-info/PKG-INFO",
]


@pytest.mark.parametrize("path", LOCAL_STATE)
def test_the_build_context_leaves_out_local_state_tests_and_emulators(path: str) -> None:
    assert not _in_build_context(path, _dockerignore_rules())


def test_the_build_context_holds_every_file_the_dockerfile_copies() -> None:
    rules = _dockerignore_rules()
    copied = [
        f
        for f in _tracked_files()
        if any(f == s or f.startswith(s + "/") for s in _copied_sources())
    ]
    assert "storage/migrations/versions/0001_initial.py" in copied
    assert [f for f in copied if not _in_build_context(f, rules)] == []
    assert not any(f.startswith(("emulators/", "tests/")) for f in copied)


def test_the_package_built_from_the_build_context_has_no_emulators(tmp_path: Path) -> None:
    # The Dockerfile's `pip install --no-deps .`, on only what the build context holds.
    rules = _dockerignore_rules()
    context = tmp_path / "context"
    for name in _tracked_files():
        if _in_build_context(name, rules):
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, context / name)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    subprocess.run(
        [*pip, "--wheel-dir", str(wheels), str(context)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = list(wheels.glob("tunebot-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "storage/migrations/versions/0001_initial.py" in names and "bot/cli.py" in names
    assert not [n for n in names if n.startswith(("emulators/", "tests/"))]


def test_the_image_keeps_its_data_in_a_declared_volume() -> None:
    assert _exec_form("VOLUME") == ["/data"]
    assert re.search(r"^WORKDIR /data$", DOCKERFILE, re.MULTILINE)  # tunebot.db, data/


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def test_compose_starts_without_a_dotenv_file() -> None:
    for name, service in _compose()["services"].items():
        env_files = service.get("env_file", [])
        for entry in [env_files] if isinstance(env_files, str) else env_files:
            assert isinstance(entry, dict) and entry.get("required") is False, name


def test_compose_takes_the_database_password_from_the_environment() -> None:
    services = _compose()["services"]
    required = re.compile(r"^\$\{POSTGRES_PASSWORD:\?[^}]+\}$")
    assert required.match(services["db"]["environment"]["POSTGRES_PASSWORD"])
    bot = services["tunebot"]["environment"]
    assert required.match(bot["PGPASSWORD"])
    assert make_url(bot["DATABASE_URL"]).password is None


def test_compose_declares_every_volume_it_mounts() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    mounts = {
        name: [m.split(":") for m in service.get("volumes", [])]
        for name, service in compose["services"].items()
    }
    assert ["tunebot-data", "/data"] in mounts["tunebot"]
    assert {m[0] for ms in mounts.values() for m in ms} <= declared


def _documented_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def _example_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def test_env_example_lists_every_variable_of_the_readme_and_compose() -> None:
    documented = _documented_variables()
    assert {"SLACK_BOT_TOKEN", "DATABASE_URL", "TUNEBOT_LOG_LEVEL"} <= documented
    compose = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "compose.yaml").read_text()))
    assert documented | compose <= _example_variables()


def test_env_example_copied_as_is_is_read_without_error(tmp_path: Path) -> None:
    copy = tmp_path / ".env"
    shutil.copy(ROOT / ".env.example", copy)
    settings = Settings.from_env({}, env_file=copy)
    assert settings.database_url == "sqlite:///tunebot.db" and settings.port == 3000


def test_the_dockerfiles_requirements_step_lists_the_projects_dependencies(tmp_path: Path) -> None:
    # The first RUN, as the image's /bin/sh runs it, in a copy of the build context's pyproject.
    run = re.search(r'^RUN (python -c ".*?") > /tmp/requirements.txt', DOCKERFILE, re.MULTILINE)
    assert run, "the Dockerfile no longer writes its requirements from pyproject.toml"
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    command = run.group(1).replace("python", shlex.quote(sys.executable), 1)
    result = subprocess.run(
        ["/bin/sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    with (ROOT / "pyproject.toml").open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    assert result.stdout.splitlines() == dependencies
