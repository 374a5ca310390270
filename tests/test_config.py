"""Configuration: parsed once; a bad setting is one line naming the variable, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cli import main
from bot.config import ConfigError, Settings, TrainerSettings
from tests.settings_helpers import (
    NOT_TUNEBOTS,
    configuration_table,
    declared_variables,
    example_variables,
)


def test_defaults_need_no_environment_at_all() -> None:
    settings = Settings.from_env({}, env_file=None)
    assert settings.database_url == "sqlite:///tunebot.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.poll_seconds == 60
    assert not settings.socket_mode


def test_values_are_parsed_and_normalised() -> None:
    settings = Settings.from_env(
        {
            "SLACK_API_URL": "http://127.0.0.1:9000/api",
            "TUNEBOT_ADMINS": "U012AB3CD, W0ABCDEF1",
            "TUNEBOT_NOTIFY_CHANNEL": "C0123ABCD",
            "TUNEBOT_POLL_SECONDS": "1",
            "SLACK_APP_TOKEN": "xapp-1-abc",
        },
        env_file=None,
    )
    assert settings.slack_api_url == "http://127.0.0.1:9000/api/"
    assert settings.admins == {"U012AB3CD", "W0ABCDEF1"}
    assert settings.poll_seconds == 1
    assert settings.socket_mode


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TUNEBOT_BASE_MODEL=gpt-4.1-mini\nTUNEBOT_POLL_SECONDS=30\n")
    settings = Settings.from_env({"TUNEBOT_POLL_SECONDS": "5"}, env_file=env_file)
    assert (settings.base_model, settings.poll_seconds) == ("gpt-4.1-mini", 5)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TUNEBOT_POLL_SECONDS": "0"}, "TUNEBOT_POLL_SECONDS"),
        ({"TUNEBOT_POLL_SECONDS": "soon"}, "TUNEBOT_POLL_SECONDS"),
        ({"TUNEBOT_ADMINS": "alice"}, "TUNEBOT_ADMINS"),
        ({"TUNEBOT_NOTIFY_CHANNEL": "#general"}, "TUNEBOT_NOTIFY_CHANNEL"),
        ({"SLACK_API_URL": "slack.com"}, "SLACK_API_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN"),
        ({"PORT": "99999"}, "PORT"),
        ({"TUNEBOT_WEB_WORKERS": "0"}, "TUNEBOT_WEB_WORKERS"),
        ({"TUNEBOT_WEB_WORKERS": "many"}, "TUNEBOT_WEB_WORKERS"),
        ({"TUNEBOT_CONTEXT_WINDOW": "8k"}, "TUNEBOT_CONTEXT_WINDOW"),
        ({"OPENAI_BASE_URL": "api.openai.com"}, "OPENAI_BASE_URL"),
        (
            {"TUNEBOT_WEB_WORKERS": "2", "SLACK_APP_TOKEN": "xapp-1-socket"},
            "TUNEBOT_WEB_WORKERS",
        ),
    ],
)
def test_a_malformed_setting_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env, env_file=None)


def test_run_without_slack_credentials_names_the_missing_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SLACK_BOT_TOKEN" in err


# What `tunebot run` needs: a start refused with these set names only what else is wrong.
SERVICE = {"SLACK_BOT_TOKEN": "xoxb-1-2-k", "SLACK_SIGNING_SECRET": "s", "OPENAI_API_KEY": "sk-1"}


def _run_refused(tmp_path: Path, **env: str) -> list[str]:
    """`tunebot run` with only `env`: it must exit 2; its stderr's lines."""
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    return result.stderr.strip().splitlines()


def test_bad_configuration_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    assert _run_refused(tmp_path, **SERVICE, TUNEBOT_POLL_SECONDS="-5") == [
        "tunebot: configuration error: TUNEBOT_POLL_SECONDS must be at least 1, got -5"
    ]


def test_run_with_nothing_configured_names_every_gap_and_each_providers_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    for needed in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "no model provider"):
        assert needed in err
    for variable in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "NEBIUS_API_KEY"):
        assert variable in err


def test_round_one_finetune_variables_configure_the_default_provider() -> None:
    settings = Settings.from_env(
        {
            "OPENAI_API_KEY": "sk-chat",
            "TUNEBOT_PROVIDER": "nebius",
            "TUNEBOT_FINETUNE_API_KEY": "nb-key",
            "TUNEBOT_FINETUNE_BASE_URL": "https://api.tokenfactory.nebius.com/v1/",
        },
        env_file=None,
    )
    assert settings.provider == "nebius" and settings.base_model_provider == "nebius"
    assert settings.provider_env["NEBIUS_API_KEY"] == "nb-key"
    assert settings.provider_problems() == []
    assert {"sk-chat", "nb-key"} <= set(settings.secrets())


def test_the_default_provider_is_the_one_configured_when_openai_is_not() -> None:
    settings = Settings.from_env({"NEBIUS_API_KEY": "nb"}, env_file=None)
    assert settings.provider == "nebius"


def test_a_default_provider_that_is_not_configured_is_named() -> None:
    settings = Settings.from_env(
        {"NEBIUS_API_KEY": "nb", "TUNEBOT_PROVIDER": "azure"}, env_file=None
    )
    [problem] = settings.provider_problems()
    assert "TUNEBOT_PROVIDER is azure" in problem and "AZURE_OPENAI_API_KEY" in problem


def test_an_unknown_provider_name_lists_the_installed_ones() -> None:
    installed = "azure, fireworks, local, nebius, openai, openai_compatible, together"
    with pytest.raises(ConfigError, match=f"TUNEBOT_PROVIDER must be one of {installed}"):
        Settings.from_env({"TUNEBOT_PROVIDER": "bedrock"}, env_file=None)


def test_every_bad_provider_setting_is_named_at_once_in_one_line(tmp_path: Path) -> None:
    lines = _run_refused(
        tmp_path,
        **SERVICE,
        NEBIUS_BASE_URL="tokenfactory.nebius.com",
        FIREWORKS_GPU_HOURLY_USD="two dollars",
    )
    assert lines == [
        "tunebot: configuration error: FIREWORKS_GPU_HOURLY_USD must be a number at least 0, "
        "got 'two dollars'; NEBIUS_BASE_URL must be an http(s) URL such as "
        "https://example.com/, got 'tokenfactory.nebius.com'"
    ]


def test_the_generic_provider_needs_both_its_url_and_its_key() -> None:
    half = Settings.from_env({"OPENAI_COMPATIBLE_API_KEY": "k"}, env_file=None)
    assert half.provider_problems() == [
        "no model provider is configured: set one of AZURE_OPENAI_API_KEY (Azure OpenAI), "
        "FIREWORKS_API_KEY and FIREWORKS_ACCOUNT_ID (Fireworks AI), TUNEBOT_VLLM_URL (Local "
        "trainer (vLLM)), NEBIUS_API_KEY (Nebius Token Factory), OPENAI_API_KEY (OpenAI), "
        "OPENAI_COMPATIBLE_BASE_URL and OPENAI_COMPATIBLE_API_KEY (OpenAI-compatible API), "
        "TOGETHER_API_KEY (Together AI)"
    ]
    whole = Settings.from_env(
        {"OPENAI_COMPATIBLE_API_KEY": "k", "OPENAI_COMPATIBLE_BASE_URL": "http://127.0.0.1:9/v1"},
        env_file=None,
    )
    assert whole.provider == "openai_compatible" and whole.provider_problems() == []
    assert "k" in whole.secrets()


def test_every_missing_and_bad_setting_is_named_in_one_line_core_and_providers_alike(
    tmp_path: Path,
) -> None:
    [line] = _run_refused(
        tmp_path,
        TUNEBOT_POLL_SECONDS="soon",
        SLACK_API_URL="slack.com",
        NEBIUS_BASE_URL="tokenfactory.nebius.com",
        TUNEBOT_ADMINS="U012AB3CD,alice",
    )
    problems = line.removeprefix("tunebot: configuration error: ").split("; ")
    named = [problem.split(" ", 1)[0] for problem in problems]
    assert named == [
        "SLACK_API_URL",
        "TUNEBOT_ADMINS",
        "TUNEBOT_POLL_SECONDS",
        "NEBIUS_BASE_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "no",  # model provider is configured
    ]
    assert "TUNEBOT_POLL_SECONDS must be a whole number at least 1, got 'soon'" in line
    assert "TUNEBOT_ADMINS must be comma-separated Slack user IDs like U012AB3CD" in line


def test_settings_are_frozen_and_overrides_are_checked_like_the_environment() -> None:
    settings = Settings.from_env({"TUNEBOT_POLL_SECONDS": "5"}, env_file=None)
    with pytest.raises(ValidationError):
        settings.poll_seconds = 1  # type: ignore[misc]
    assert settings.with_overrides(poll_seconds=9).poll_seconds == 9
    with pytest.raises(ValidationError):
        settings.with_overrides(poll_seconds=0)


SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-hunter2-bot",
    "SLACK_SIGNING_SECRET": "hunter2-signing",
    "SLACK_APP_TOKEN": "xapp-hunter2-app",
    "OPENAI_API_KEY": "sk-hunter2-openai",
    "TUNEBOT_FINETUNE_API_KEY": "hunter2-round-one",
}


def test_secrets_are_masked_in_logs_and_never_in_the_settings_repr() -> None:
    password_url = "postgresql://tunebot:hunter2-db@db.internal/tunebot"
    settings = Settings.from_env({**SECRETS, "DATABASE_URL": password_url}, env_file=None)
    assert set(SECRETS.values()) <= set(settings.secrets())
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
    assert settings.database_url == password_url


def test_a_bad_secret_or_database_url_is_named_without_its_value() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(
            {
                "SLACK_BOT_TOKEN": "hunter2-not-a-token",
                "DATABASE_URL": "mysql://tunebot:hunter2-db@db.internal/tunebot",
            },
            env_file=None,
        )
    message = str(refused.value)
    assert "SLACK_BOT_TOKEN must be a bot token starting with xoxb-" in message
    assert "DATABASE_URL must be a sqlite:/// or postgresql:// URL, got mysql:" in message
    assert "hunter2" not in message


def test_the_trainer_reads_the_shared_settings_the_same_way(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TUNEBOT_MODEL_DIR=/models\nTUNEBOT_LOG_LEVEL=debug\n")
    database_url = f"sqlite:///{tmp_path / 'tunebot.db'}"
    trainer = TrainerSettings.from_env({"DATABASE_URL": database_url}, env_file=env_file)
    bot = Settings.from_env({"DATABASE_URL": database_url}, env_file=env_file)
    assert trainer.dataset_dir == bot.dataset_dir == tmp_path / "data"
    assert (trainer.model_dir, trainer.log_level) == (Path("/models"), "DEBUG")
    with pytest.raises(ConfigError, match="TUNEBOT_MODEL_DIR is required"):
        TrainerSettings.from_env({}, env_file=None)


def test_the_readme_table_and_env_example_list_exactly_the_declared_variables() -> None:
    declared = declared_variables()
    assert {"SLACK_BOT_TOKEN", "TUNEBOT_MODEL_DIR", "OPENAI_API_KEY"} <= declared
    assert set(configuration_table()) == declared
    assert example_variables() == declared | NOT_TUNEBOTS


def test_the_readme_table_gives_each_core_default_as_it_is_typed() -> None:
    table = configuration_table()
    for model in (Settings, TrainerSettings):
        for name, variable in model.variables().items():
            default = model.model_fields[name].default
            if isinstance(default, bool):
                typed = "on" if default else "off"
            elif isinstance(default, float):
                typed = f"{default:g}"
            elif isinstance(default, int | str) and len(str(default)) <= 40:
                typed = str(default)
            else:
                continue  # no default, or prose (the system prompt)
            assert f"`{typed}`" in table[variable], variable


def test_tunebot_trainer_takes_the_bots_log_settings_and_names_what_it_lacks(
    tmp_path: Path,
) -> None:
    def trainer(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "trainer", "--once"],
            env={"PATH": "/usr/bin:/bin", **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    refused = trainer(TUNEBOT_LOG_FORMAT="json")
    assert refused.returncode == 2
    assert refused.stderr.startswith("tunebot: configuration error: TUNEBOT_MODEL_DIR is required")
    (tmp_path / ".env").write_text(f"TUNEBOT_MODEL_DIR={tmp_path / 'models'}\n")
    waited = trainer(TUNEBOT_LOG_FORMAT="json", TUNEBOT_LOG_LEVEL="info")
    assert waited.returncode == 0, waited.stderr
    lines = [json.loads(line) for line in waited.stderr.splitlines()]
    assert any("waiting for local jobs" in line["message"] for line in lines)
