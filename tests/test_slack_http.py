"""PooledWebClient: the SDK's WebClient, with connections to Slack kept open between calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.slack_http import PooledWebClient
from emulators.slack import SlackEmulator


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(slack: SlackEmulator) -> Iterator[PooledWebClient]:
    pooled = PooledWebClient(token=slack.bot_token, base_url=slack.api_url)
    yield pooled
    pooled.close()


def test_calls_share_one_connection(slack: SlackEmulator, client: PooledWebClient) -> None:
    channel = slack.add_channel("general")
    before = slack.connections
    for n in range(5):
        assert client.chat_postMessage(channel=channel, text=f"note {n}")["ok"]
    assert client.conversations_history(channel=channel)["messages"][0]["text"] == "note 4"
    assert slack.connections - before == 1


def test_a_connection_the_server_closed_is_replaced(
    slack: SlackEmulator, client: PooledWebClient
) -> None:
    channel = slack.add_channel("general")
    client.chat_postMessage(channel=channel, text="before")
    slack.drop_connections()

    assert client.chat_postMessage(channel=channel, text="after")["ok"]
    assert [m["text"] for m in slack.messages(channel)] == ["before", "after"]


def test_errors_and_rate_limits_reach_the_sdk_as_before(
    slack: SlackEmulator, client: PooledWebClient
) -> None:
    channel = slack.add_channel("general")
    slack.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel=channel, text="lost")
    assert refused.value.response["error"] == "channel_not_found"

    slack.fail_next("chat.postMessage", retry_after=0)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=channel, text="limited")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "0"

    slack.fail_next("chat.postMessage", retry_after=0)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    assert client.chat_postMessage(channel=channel, text="retried")["ok"]
    assert [m["text"] for m in slack.messages(channel)] == ["retried"]


def test_a_bad_token_is_refused_over_a_pooled_connection(slack: SlackEmulator) -> None:
    stranger = PooledWebClient(token="xoxb-not-a-real-token", base_url=slack.api_url)
    with pytest.raises(SlackApiError) as refused:
        stranger.auth_test()
    assert refused.value.response["error"] == "invalid_auth"
    stranger.close()
