"""Providers are plugins: one installed by a package appears in Slack; production code is
free of the emulators."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from admin.providers.registry import discover
from emulators.openai import OpenAIEmulator
from emulators.sandbox import Sandbox
from tests.sandbox_helpers import ADMIN, NOTIFY, command

PLUGIN = """
from admin.providers.builtin import OpenAIPlugin
from admin.providers.plugin import Setting, TrainOption


class AcmePlugin(OpenAIPlugin):
    name = "acme"
    label = "Acme Tuning"
    settings = (
        Setting("ACME_API_KEY", "key of your Acme account", secret=True, enables=True),
        Setting("ACME_BASE_URL", "the Acme API", url=True),
    )
    train_options = (TrainOption("rank", int, "adapter rank", minimum=1, maximum=64),)
    default_base_model = "acme-small"
    _key, _url = "ACME_API_KEY", "ACME_BASE_URL"

    def new_jobs_refusal(self, today):
        return None

    def new_jobs_notice(self, today):
        return None
"""


@pytest.fixture
def installed_plugin(tmp_path: Path) -> Iterator[None]:
    """A package installed the way pip installs one: a module and its dist-info entry point."""
    (tmp_path / "tunebot_acme.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "tunebot_acme-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tunebot-acme\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tunebot.providers]\nacme = tunebot_acme:AcmePlugin\n")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield
    sys.path.remove(str(tmp_path))
    sys.modules.pop("tunebot_acme", None)
    importlib.invalidate_caches()


def test_built_in_providers_register_through_the_entry_point_group() -> None:
    assert {"openai", "azure", "nebius"} <= set(discover())


def test_a_plugin_installed_by_a_package_appears_in_slack_with_its_options(
    installed_plugin: None, database_url: str
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
            "Acme Tuning does not take `epochs=`. It takes: `provider=`, `rank=`"
            in (refused["text"])
        )


def test_production_code_never_imports_the_emulators() -> None:
    code = (
        "import sys, bot.cli, bot.app, bot.runtime, admin.scheduler, admin.poller, storage.repo\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'emulators'], 'emulators'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_a_status_the_provider_does_not_know_is_logged_and_only_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = discover()["openai"]
    with caplog.at_level("WARNING", logger="admin.providers.plugin"):
        phases = [plugin.phase(s) for s in ("validating_files", "queued", "running", "paused")]
        plugin.phase("succeeded")
        first, second = plugin.phase("thinking_hard"), plugin.phase("thinking_hard")

    assert set(phases) == {"active"} and first == second == "active"
    assert [r.getMessage() for r in caplog.records] == [
        "OpenAI reported job status 'thinking_hard', which tunebot does not know; "
        "treating it as still in progress"
    ]


def test_demo_without_the_emulators_package_says_so_in_one_line(tmp_path: Path) -> None:
    # As in the Docker image, where emulators/ is not installed: the import finds nothing.
    code = "import sys; sys.modules['emulators'] = None\nfrom bot.cli import main\n"
    for name in ("demo", "sandbox"):
        result = subprocess.run(
            [sys.executable, "-c", code + f"sys.exit(main([{name!r}]))"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "needs the emulators package" in result.stderr
