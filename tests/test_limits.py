"""TUNEBOT_CHANNELS and TUNEBOT_USER_DAILY_LIMIT through Slack: one polite line per channel
outside the allowlist (also after a restart), DMs always answered; so many answers per person
a day, then one line per question saying when it resets; and the four settings' errors."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings
from emulators.sandbox import Sandbox
from tests.sandbox_helpers import ADMIN
from tests.usage_helpers import OTHER, SUPPORT, ask, bot_lines


def test_outside_the_allowlist_a_mention_gets_one_polite_line_once_per_channel(
    database_url: str,
) -> None:
    with Sandbox.open(
        database_url=database_url, admins=frozenset({ADMIN}), channels=frozenset({SUPPORT})
    ) as box:
        box.slack.add_channel("support", channel_id=SUPPORT)
        box.slack.add_channel("random", channel_id=OTHER)
        minji, jun = box.slack.add_user("minji"), box.slack.add_user("jun")
        assert ask(box, SUPPORT, minji, "지원 채널 질문").outcome == "answered"
        before = len(box.openai.chat_requests)

        first = ask(box, OTHER, minji, "여기서도 답해 주나요?")
        second = ask(box, OTHER, jun, "저도 물어볼게요")
        box.restart()  # another process: the channel has been told already
        third = ask(box, OTHER, minji, "다시 물어봅니다")
        dm = ask(box, box.slack.open_dm(jun), jun, "DM은 되나요?")

        assert [t.outcome for t in (first, second, third)] == ["not_allowed"] * 3
        [line] = bot_lines(box, first)
        assert line.startswith("Thanks for the mention! I only answer in the channels I'm set up")
        assert f"ask <@{ADMIN}> to add this channel, or send me a direct message" in line
        assert bot_lines(box, second) == [] and bot_lines(box, third) == []
        assert dm.outcome == "answered"
        assert len(box.openai.chat_requests) == before + 1  # the DM's answer only


def test_each_person_gets_so_many_answers_a_day_then_a_line_saying_when_it_resets(
    database_url: str,
) -> None:
    with Sandbox.open(database_url=database_url, user_daily_limit=2) as box:
        box.slack.add_channel("support", channel_id=SUPPORT)
        minji, jun = box.slack.add_user("minji"), box.slack.add_user("jun")

        answered = [ask(box, SUPPORT, minji, f"질문 {n}") for n in range(2)]
        before = len(box.openai.chat_requests)
        over = ask(box, SUPPORT, minji, "세 번째 질문")
        again = ask(box, box.slack.open_dm(minji), minji, "DM에서는요?")
        other = ask(box, SUPPORT, jun, "저는 처음이에요")

        assert [t.outcome for t in answered] == ["answered", "answered"]
        assert (over.outcome, again.outcome, other.outcome) == (
            "daily_limit",
            "daily_limit",
            "answered",
        )
        assert len(box.openai.chat_requests) == before + 1  # jun's answer only
        [line] = bot_lines(box, over)
        assert line.startswith("You've had your 2 answers for today, the most each person gets;")
        assert "it starts again at 00:00 UTC, in " in line and " h " in line


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TUNEBOT_MONTHLY_BUDGET_USD": "lots"}, "TUNEBOT_MONTHLY_BUDGET_USD must be an amount"),
        ({"TUNEBOT_MONTHLY_BUDGET_USD": "0"}, "TUNEBOT_MONTHLY_BUDGET_USD must be above 0, got 0"),
        ({"TUNEBOT_CHANNELS": "C0SUPPORT1,#random"}, "TUNEBOT_CHANNELS must be comma-separated"),
        ({"TUNEBOT_USER_DAILY_LIMIT": "0"}, "TUNEBOT_USER_DAILY_LIMIT must be at least 1"),
        (
            {"TUNEBOT_BUDGET_FALLBACK_MODEL": "together:llama"},
            "TUNEBOT_BUDGET_FALLBACK_MODEL must be a model, or provider:model at a configured "
            "provider \\(together is not configured",
        ),
    ],
)
def test_a_malformed_limit_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"OPENAI_API_KEY": "sk-test", **env}, env_file=None)


def test_the_limits_are_read_and_a_fallback_is_a_model_or_provider_and_model() -> None:
    env = {
        "OPENAI_API_KEY": "sk-test",
        "TUNEBOT_VLLM_URL": "http://vllm:8000/v1",
        "TUNEBOT_MONTHLY_BUDGET_USD": "50",
        "TUNEBOT_CHANNELS": "C0SUPPORT1, G0PRIVATE1",
        "TUNEBOT_USER_DAILY_LIMIT": "20",
    }
    settings = Settings.from_env(env, env_file=None)
    assert settings.monthly_budget_usd == 50
    assert settings.channels == {"C0SUPPORT1", "G0PRIVATE1"}
    assert settings.user_daily_limit == 20
    assert settings.budget_fallback is None

    def fallback(raw: str) -> tuple[str, str] | None:
        given = {**env, "TUNEBOT_BUDGET_FALLBACK_MODEL": raw}
        return Settings.from_env(given, env_file=None).budget_fallback

    assert fallback("gpt-4.1-nano") == ("openai", "gpt-4.1-nano")
    assert fallback("local:Qwen/Qwen2.5-1.5B-Instruct") == ("local", "Qwen/Qwen2.5-1.5B-Instruct")
    # A model id's own colons do not make it a provider's name.
    assert fallback("ft:gpt-4o-mini-2024-07-18:acme::abc") == (
        "openai",
        "ft:gpt-4o-mini-2024-07-18:acme::abc",
    )
    unset = Settings.from_env({"OPENAI_API_KEY": "sk-test"}, env_file=None)
    assert (unset.monthly_budget_usd, unset.channels, unset.user_daily_limit) == (None, set(), None)
