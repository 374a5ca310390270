"""Providers are plugins: one installed by a package appears in Slack; production code is
free of the emulators."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from admin.providers.builtin import OpenAI
from admin.providers.plugin import ProviderContext
from admin.providers.registry import Registry
from bot.cli import main
from emulators.openai import OpenAIEmulator
from emulators.sandbox import Sandbox
from tests.sandbox_helpers import ADMIN, NOTIFY, command
from tests.service_helpers import run_briefly

PLUGIN = """
import atexit
import os
import sys

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from admin.providers import URL, OpenAICompatible, ProviderSettings, TrainOptions

loads = []


class _Acme(OpenAICompatible):
    name = "acme"
    label = "Acme Tuning"

    class Settings(ProviderSettings):
        model_config = SettingsConfigDict(env_prefix="ACME_")
        api_key: SecretStr = Field(description="key of your Acme account")
        base_url: URL | None = Field(None, description="the Acme API")

    class Options(TrainOptions):
        rank: int | None = Field(None, ge=1, le=64, description="adapter rank")

    default_base_model = "acme-small"


def __getattr__(name):
    # Each discovery loads the entry point, and each load asks this module for the class:
    # counted here, and written down for a `tunebot run` of its own.
    if name != "Acme":
        raise AttributeError(name)
    loads.append(name)
    if os.environ.get("ACME_LOADS"):
        with open(os.environ["ACME_LOADS"], "a") as out:
            out.write("loaded\\n")
    return _Acme


def _modules():
    with open(os.environ["ACME_MODULES"], "w") as out:
        out.write("\\n".join(sorted(sys.modules)))


if os.environ.get("ACME_MODULES"):
    atexit.register(_modules)  # what the process had imported when it stopped
"""


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[Path]:
    """A package installed the way pip installs one: a module and its dist-info entry point."""
    (tmp_path / "tunebot_acme.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "tunebot_acme-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tunebot-acme\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tunebot.providers]\nacme = tunebot_acme:Acme\n")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("tunebot_acme", None)
    importlib.invalidate_caches()


def test_built_in_providers_register_through_the_entry_point_group() -> None:
    assert set(Registry.discover()) >= {
        "openai",
        "azure",
        "nebius",
        "together",
        "fireworks",
        "local",
        "openai_compatible",
    }


def test_a_plugin_installed_by_a_package_appears_in_slack_with_its_options(
    installed_plugin: Path, database_url: str
) -> None:
    with (
        OpenAIEmulator() as acme,
        Sandbox.open(
            database_url=database_url,
            admins=frozenset({ADMIN}),
            notify_channel=NOTIFY,
            provider_env={"ACME_API_KEY": acme.api_key, "ACME_BASE_URL": acme.base_url},
        ) as box,
    ):
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_channel("ml", channel_id=NOTIFY)

        listing = command(box, "providers")["text"]
        helped = command(box, "help")["text"]
        refused = command(box, "train ds-1 provider=acme epochs=2")

        assert "*Acme Tuning* (`acme`)" in listing
        assert "`rank=` adapter rank" in helped.split("at Acme Tuning")[1]
        assert (
            "Acme Tuning does not take `epochs=`. It takes: `provider=`, `model=`, "
            "`validation=`, `rank=`." in refused["text"]
        )
        assert sys.modules["tunebot_acme"].loads == ["Acme"]  # discovered once for the start


def test_tunebot_run_discovers_providers_once_and_holds_no_module_it_does_not_serve_with(
    installed_plugin: Path, tmp_path: Path
) -> None:
    loads, modules = tmp_path / "loads.txt", tmp_path / "modules.txt"
    returncode, stderr = run_briefly(
        tmp_path,
        PYTHONPATH=str(installed_plugin),
        ACME_LOADS=str(loads),
        ACME_MODULES=str(modules),
    )

    assert returncode == 0, stderr
    assert loads.read_text().splitlines() == ["loaded"]
    imported = {name.split(".")[0] for name in modules.read_text().split()}
    assert "openai" in imported and "tunebot_acme" in imported  # it did run and load both
    # SDKs of providers that are off; the migration tool (run in a child); the chart drawer;
    # the emulators, whose commands only `tunebot --help`, `demo` and `sandbox` load.
    assert not imported & {"together", "fireworks", "alembic", "PIL", "emulators"}


PRODUCTION = ("bot", "admin", "storage", "trainer")


def _names_the_emulators(node: ast.AST) -> bool:
    """`import emulators...`, `from emulators... import`, or a dotted name such as
    `importlib.import_module("emulators.demo")` or `find_spec("emulators")` would use."""
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "emulators" for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "emulators"
    return isinstance(node, ast.Constant) and bool(
        isinstance(node.value, str) and re.fullmatch(r"emulators(\.\w+)*", node.value)
    )


def test_no_production_module_names_the_emulators_lazily_or_not() -> None:
    root = Path(__file__).resolve().parent.parent
    sources = [path for package in PRODUCTION for path in (root / package).rglob("*.py")]
    assert len(sources) > 100
    found = [
        f"{path.relative_to(root)}:{node.lineno}"
        for path in sources
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if _names_the_emulators(node)
    ]
    assert found == []


def test_importing_every_production_module_loads_no_emulator() -> None:
    # The trainer's composition root stands for its modules, which load torch (the scan
    # above reads them all).
    code = (
        "import importlib, pkgutil, sys\n"
        "for package in ('bot', 'admin', 'storage'):\n"
        "    for module in pkgutil.walk_packages(importlib.import_module(package).__path__,\n"
        "                                        package + '.'):\n"
        "        importlib.import_module(module.name)\n"
        "import trainer.cli\n"
        "from bot.cli import build_parser\n"
        "build_parser(['run'])\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'emulators'], 'emulators'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_only_a_status_the_provider_does_not_know_is_logged_and_only_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = OpenAI(OpenAI.Settings(api_key="sk-x"), ProviderContext(today=date.today))
    with caplog.at_level("WARNING", logger="admin.providers.plugin"):
        phases = [plugin.phase(s) for s in ("validating_files", "queued", "running", "paused")]
        plugin.phase("succeeded")
        first, second = plugin.phase("thinking_hard"), plugin.phase("thinking_hard")

    assert set(phases) == {"active"} and first == second == "active"
    assert [r.getMessage() for r in caplog.records] == [
        "OpenAI reported job status 'thinking_hard', which tunebot does not know; "
        "treating it as still in progress"
    ]


def _tunebot_without_emulators(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    # As in the Docker image, where emulators/ is not installed: the import finds nothing.
    code = "import sys; sys.modules['emulators'] = None\nfrom bot.cli import main\n"
    return subprocess.run(
        [sys.executable, "-c", code + f"sys.exit(main({list(argv)!r}))"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_without_the_emulators_package_says_so_in_one_line(tmp_path: Path) -> None:
    for argv in (["demo"], ["sandbox"], ["demo", "--local"], ["sandbox", "--help"]):
        result = _tunebot_without_emulators(tmp_path, *argv)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "needs the emulators package" in result.stderr
    listed = _tunebot_without_emulators(tmp_path, "--help").stdout
    assert "demo       (needs the emulators package, not installed here)" in listed


def test_help_lists_the_commands_the_emulators_add(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    listed = capsys.readouterr().out
    assert done.value.code == 0
    assert "demo       play a scripted Slack session against local emulators" in listed
    assert "sandbox    run local Slack and OpenAI emulators" in listed
