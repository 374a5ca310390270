"""The Dockerfiles stay honest: they lint clean, their build contexts hold what they copy,
and their install, start and health commands work."""

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
from tests.docker_helpers import IgnoreRules, copied_sources, denotes, ignore_file_for
from tests.service_helpers import free_port, service_env
from tests.settings_helpers import configuration_table, example_variables

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DOCKERFILES = sorted(
    p.name for p in ROOT.glob("Dockerfile*") if not p.name.endswith(".dockerignore")
)


def _exec_form(instruction: str) -> list[str]:
    match = re.search(rf"^{instruction}\s+(\[.*\])\s*$", DOCKERFILE, re.MULTILINE)
    assert match, f"the Dockerfile has no exec-form {instruction}"
    return list(json.loads(match.group(1)))


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_every_dockerfile_passes_hadolint(dockerfile: str) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, str(ROOT / dockerfile)], capture_output=True, text=True, timeout=60
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


def _tracked_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.split()


def _build_contexts() -> dict[str, Path]:
    """Dockerfile name -> the build context compose sends with it."""
    contexts = {}
    for service in _compose()["services"].values():
        build = service.get("build")
        if build is not None:
            build = {"context": build} if isinstance(build, str) else build
            contexts[build.get("dockerfile", "Dockerfile")] = (ROOT / build["context"]).resolve()
    return contexts


def _context_files(dockerfile: str) -> list[str]:
    """The repository's files that `docker build` sends with `dockerfile`."""
    context = _build_contexts()[dockerfile]
    rules = IgnoreRules.read(ignore_file_for(ROOT / dockerfile, context))
    inside = [str((ROOT / f).relative_to(context)) for f in _tracked_files()]
    return [f for f in inside if not rules.excludes(f)]


def test_compose_builds_every_dockerfile_from_the_repository() -> None:
    assert set(_build_contexts()) == set(DOCKERFILES)
    assert set(_build_contexts().values()) == {ROOT}


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_each_dockerfiles_build_context_holds_what_it_copies(dockerfile: str) -> None:
    sent = set(_context_files(dockerfile))
    tracked = _tracked_files()
    for source in copied_sources((ROOT / dockerfile).read_text()):
        wanted = [f for f in tracked if denotes(source, f)]
        # Docker stops at a COPY whose source the context lacks ("not found"), and copies a
        # folder without the files .dockerignore leaves out.
        assert wanted, f"{dockerfile} copies {source}, which the repository does not have"
        missing = [f for f in wanted if f not in sent]
        assert missing == [], f"{dockerfile} copies {source}; .dockerignore leaves out {missing}"


@pytest.mark.parametrize("path", LOCAL_STATE)
def test_the_build_context_leaves_out_local_state_tests_and_emulators(path: str) -> None:
    assert IgnoreRules.read(ROOT / ".dockerignore").excludes(path)


def test_the_bot_image_copies_its_migrations_and_no_emulators() -> None:
    copied = [f for f in _tracked_files() if any(denotes(s, f) for s in copied_sources(DOCKERFILE))]
    assert "storage/migrations/versions/0001_initial.py" in copied
    assert not any(f.startswith(("emulators/", "tests/", "trainer/")) for f in copied)


# Cases of moby/patternmatcher's own TestMatches (MatchesOrParentMatches), which BuildKit uses.
MATCHER_CASES = [
    (["**"], "dir/file", True),
    (["dir/**"], "dir/dir2/file", True),
    (["**/dir"], "dir/file", True),
    (["**/dir2/*"], "dir/dir2/file", True),
    (["**file"], "dir/dir/file", True),
    (["**/file*.txt"], "dir/dir/file.txt", True),
    (["**/**/*.txt2"], "dir/dir/file.txt", False),
    (["**/*.txt"], "file.txt", True),
    (["a**/*.txt"], "a/dir/dir/file.txt", True),
    (["a/*.txt"], "a/dir/file.txt", False),
    (["a[b-d]e"], "ace", True),
    (["a[^b-d]e"], "aze", True),
    ([".*"], "foo", False),
    (["abc.def"], "abcZdef", False),
    (["abc?def"], "abcZdef", True),
    (["abc/**"], "abc", False),
    (["**/.foo"], "bar.foo", False),
    (["a(b)c/def"], "a(b)c/def", True),
    (["dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    # and the shape of this repository's allow-list
    (["*", "!bot/", "**/__pycache__"], "bot/x/__pycache__/a.pyc", True),
    (["*", "!bot/", "**/__pycache__"], "bot/x/a.py", False),
    (["*", "!bot/"], "trainer/worker.py", True),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), MATCHER_CASES)
def test_dockerignore_rules_match_as_docker_matches(
    patterns: list[str], path: str, excluded: bool
) -> None:
    assert IgnoreRules(patterns).excludes(path) is excluded


def test_the_package_built_from_the_build_context_has_no_emulators(tmp_path: Path) -> None:
    # The Dockerfile's `pip install --no-deps .`, on only what the build context holds.
    context = tmp_path / "context"
    for name in _context_files("Dockerfile"):
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
        [points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        declared = archive.read(points).decode()
    assert "storage/migrations/versions/0001_initial.py" in names and "bot/cli.py" in names
    assert not [n for n in names if n.startswith(("emulators/", "tests/"))]
    # The image's `tunebot` still finds `demo` and `sandbox`, to say what they need.
    commands = declared.split("[tunebot.commands]", 1)[1].split("\n[", 1)[0]
    added = {line.split("=")[0].strip() for line in commands.splitlines() if "=" in line}
    assert added >= {"demo", "sandbox"}


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
    default = re.fullmatch(r"\$\{DATABASE_URL:-([^}]+)\}", bot["DATABASE_URL"])
    assert default is not None and make_url(default.group(1)).password is None


# Paths inside the containers, where compose mounts their volumes: compose sets them over .env
# (a path from another machine would miss the volume), and the README says so.
CONTAINER_PATHS = {"TUNEBOT_MODEL_DIR", "TUNEBOT_DATA_DIR", "HF_HOME"}


def test_compose_honours_what_dotenv_sets() -> None:
    # `environment:` wins over `env_file:`, so a fixed value there would silently replace
    # the line in .env; `${NAME:-default}` takes .env's (compose reads it for interpolation).
    settable = example_variables()
    for name, service in _compose()["services"].items():
        for key, value in service.get("environment", {}).items():
            if key in settable and key not in CONTAINER_PATHS:
                assert re.match(rf"\$\{{{key}:[-?]", str(value)), f"{name}: {key}: {value}"
    docker_section = _readme_section("### Docker")
    assert all(f"`{key}`" in docker_section for key in CONTAINER_PATHS)
    assert "`DATABASE_URL`" in docker_section


def _vllm_start(tmp_path: Path, base_model: str) -> subprocess.CompletedProcess[str]:
    """The vllm service's entrypoint and command, as its container runs them (compose turns
    `$$` into `$`), with a `vllm` on PATH that prints how it was called."""
    vllm = _compose()["services"]["vllm"]
    script = vllm["command"][0].replace("$$", "$")
    fake = tmp_path / "vllm"
    fake.write_text('#!/bin/sh\necho "vllm $*"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "TUNEBOT_BASE_MODEL": base_model}
    return subprocess.run(
        [*vllm["entrypoint"], script], env=env, capture_output=True, text=True, timeout=30
    )


def test_vllm_serves_the_base_model_the_bot_answers_with(tmp_path: Path) -> None:
    services = _compose()["services"]
    # One variable for both: the bot reads TUNEBOT_BASE_MODEL from .env, vLLM is given it.
    assert "TUNEBOT_BASE_MODEL" not in services["tunebot"]["environment"]
    assert services["vllm"]["environment"]["TUNEBOT_BASE_MODEL"] == "${TUNEBOT_BASE_MODEL:-}"
    served = _vllm_start(tmp_path, "Qwen/Qwen2.5-1.5B-Instruct")
    assert served.returncode == 0, served.stderr
    assert served.stdout.startswith("vllm serve Qwen/Qwen2.5-1.5B-Instruct --enable-lora")
    unset = _vllm_start(tmp_path, "")
    assert unset.returncode == 2 and "set TUNEBOT_BASE_MODEL in .env" in unset.stderr
    assert unset.stdout == ""
    for name in ("compose.yaml", ".env.example", "README.md"):
        assert "TUNEBOT_BASE_MODEL_ID" not in (ROOT / name).read_text(), name


def test_the_gpu_section_names_the_base_model_for_vllm_and_the_bot() -> None:
    gpu = _readme_section("## Self-hosted fine-tuning")
    assert "TUNEBOT_BASE_MODEL=Qwen/Qwen2.5-1.5B-Instruct" in gpu
    example = (ROOT / ".env.example").read_text()
    local = example.split("# --- Self-hosted fine-tuning", 1)[1].split("# ---", 1)[0]
    assert "TUNEBOT_BASE_MODEL=" in local


def _readme_section(heading: str) -> str:
    """From `heading` to the next heading of its level or above (not a `#` line of code)."""
    level = len(heading.split(" ", 1)[0])
    lines = (ROOT / "README.md").read_text().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    section, fenced = [lines[start]], False
    for line in lines[start + 1 :]:
        fenced ^= line.startswith("```")
        if not fenced and re.match(rf"#{{1,{level}}} ", line):
            break
        section.append(line)
    return "\n".join(section)


def test_compose_declares_every_volume_it_mounts() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    mounts = {
        name: [m.split(":") for m in service.get("volumes", [])]
        for name, service in compose["services"].items()
    }
    assert ["tunebot-data", "/data"] in mounts["tunebot"]
    assert {m[0] for ms in mounts.values() for m in ms} <= declared


def test_env_example_lists_every_variable_of_the_readme_and_compose() -> None:
    documented = set(configuration_table())
    assert {"SLACK_BOT_TOKEN", "DATABASE_URL", "TUNEBOT_LOG_LEVEL"} <= documented
    compose = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "compose.yaml").read_text()))
    assert documented | compose <= example_variables()


def test_env_example_copied_as_is_is_read_without_error(tmp_path: Path) -> None:
    copy = tmp_path / ".env"
    shutil.copy(ROOT / ".env.example", copy)
    settings = Settings.from_env({}, env_file=copy)
    assert settings.database_url == "sqlite:///tunebot.db" and settings.port == 3000


# The extras each image installs besides the project's dependencies.
IMAGE_EXTRAS = {"Dockerfile": [], "Dockerfile.trainer": ["train"]}


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_each_dockerfiles_requirements_step_lists_what_its_image_needs(
    tmp_path: Path, dockerfile: str
) -> None:
    # The first RUN, as the image's /bin/sh runs it, in a copy of the build context's pyproject.
    text = (ROOT / dockerfile).read_text()
    run = re.search(r'^RUN (python -c ".*?") > /tmp/requirements.txt', text, re.MULTILINE)
    assert run, f"{dockerfile} no longer writes its requirements from pyproject.toml"
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    command = run.group(1).replace("python", shlex.quote(sys.executable), 1)
    result = subprocess.run(
        ["/bin/sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    with (ROOT / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    extras = [r for e in IMAGE_EXTRAS[dockerfile] for r in project["optional-dependencies"][e]]
    assert result.stdout.splitlines() == project["dependencies"] + extras


def test_the_trainer_images_start_command_waits_for_jobs(tmp_path: Path) -> None:
    # Dockerfile.trainer's CMD with compose's variables for it, on a SQLite file here: it
    # migrates, finds no queued job and (with --once) says so by exiting 0.
    text = (ROOT / "Dockerfile.trainer").read_text()
    command = json.loads(re.findall(r"^CMD\s+(\[.*\])\s*$", text, re.MULTILINE)[-1])
    assert command == ["tunebot", "trainer"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tunebot.db'}",
        "TUNEBOT_MODEL_DIR": str(tmp_path / "models"),
        "TUNEBOT_DATA_DIR": str(tmp_path / "data"),
    }
    binary = str(Path(sys.executable).parent / command[0])
    result = subprocess.run(
        [binary, *command[1:], "--once"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "waiting for local jobs" in result.stderr
