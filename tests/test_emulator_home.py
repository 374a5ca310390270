"""The Slack emulator's app as its manifest installs it, its Home tab and Block Kit's element
limits: it refuses what Slack refuses, so the bot cannot pass with calls Slack would not take."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from emulators.slack import SlackEmulator
from emulators.slack_home import ManifestError
from tests.slack_helpers import Receiver

MANIFEST = Path(__file__).resolve().parents[1] / "slack-manifest.yaml"


@pytest.fixture
def client(slack: SlackEmulator) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def _manifest() -> dict[str, Any]:
    return dict(yaml.safe_load(MANIFEST.read_text()))


def _home(*blocks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"type": "home", "blocks": list(blocks), **fields}


def _section(text: str, **more: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **more}


def _button(**fields: Any) -> dict[str, Any]:
    button = {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "action_id": "go"}
    return button | fields


def _refusal(client: WebClient, user: str, view: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as refused:
        client.views_publish(user_id=user, view=view)
    return dict(refused.value.response.data)  # type: ignore[arg-type]


def test_the_home_tab_is_there_only_when_the_manifest_enables_it(
    slack: SlackEmulator, client: WebClient
) -> None:
    user = slack.add_user("minji")
    off = _manifest()
    off["features"]["app_home"]["home_tab_enabled"] = False
    slack.install(off)

    assert _refusal(client, user, _home(_section("hi")))["error"] == "not_enabled"

    slack.install(_manifest())  # tunebot's manifest, as users paste it
    assert client.views_publish(user_id=user, view=_home(_section("hi")))["ok"]


def test_manifest_keys_slack_does_not_know_are_refused(slack: SlackEmulator) -> None:
    unknown = _manifest()
    unknown["features"]["app_home"]["home_tab"] = True
    with pytest.raises(ManifestError, match=r"features\.app_home\.home_tab is not a key"):
        slack.install(unknown)
    twice = _manifest()
    twice["settings"]["event_subscriptions"]["bot_events"].append("app_mention")
    with pytest.raises(ManifestError, match="must not repeat"):
        slack.install(twice)


def test_app_home_opened_reaches_only_an_app_that_subscribes_to_it(
    slack: SlackEmulator, client: WebClient, receiver: Receiver
) -> None:
    user = slack.add_user("minji")
    unsubscribed = _manifest()
    unsubscribed["settings"]["event_subscriptions"]["bot_events"].remove("app_home_opened")
    slack.install(unsubscribed)
    assert slack.open_app_home(user, "home").event_ids == []
    assert receiver.requests == []

    slack.install(_manifest())
    client.views_publish(user_id=user, view=_home(_section("hello")))
    delivery = slack.open_app_home(user, "home")

    [envelope] = receiver.envelopes()
    event = envelope["event"]
    assert delivery.event_ids == [envelope["event_id"]]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", user, "home")
    assert event["channel"] == slack.open_dm(user) and event["view"]["type"] == "home"
    assert "user" not in event["view"]
    slack.open_app_home(user, "messages")
    assert "view" not in receiver.envelopes()[-1]["event"]


def test_home_views_over_slacks_limits_are_refused(slack: SlackEmulator, client: WebClient) -> None:
    user, other = slack.add_user("minji"), slack.add_user("jun")
    huge = _home(*[_section("x" * 2990, block_id=f"b{n}") for n in range(90)])
    assert _refusal(client, user, huge)["error"] == "view_too_large"

    too_many = _home(*[_section("x") for _ in range(101)])
    assert _refusal(client, user, too_many)["error"] == "invalid_arguments"

    client.views_publish(user_id=user, view=_home(_section("a"), external_id="dash"))
    assert client.views_publish(user_id=user, view=_home(_section("b"), external_id="dash"))["ok"]
    taken = _refusal(client, other, _home(_section("c"), external_id="dash"))
    assert taken["error"] == "duplicate_external_id"
    long_id = _refusal(client, other, _home(_section("c"), external_id="e" * 256))
    assert "external_id" in long_id["response_metadata"]["messages"][0]


@pytest.mark.parametrize(
    ("element", "pointer"),
    [
        (_button(text={"type": "plain_text", "text": "x" * 76}), "/accessory/text"),
        (_button(text={"type": "mrkdwn", "text": "Go"}), "/accessory/text"),
        (_button(value="v" * 2001), "/accessory/value"),
        (_button(style="warning"), "/accessory/style"),
        (
            _button(
                confirm={
                    "title": {"type": "plain_text", "text": "Sure?"},
                    "text": {"type": "plain_text", "text": "t" * 301},
                }
            ),
            "/accessory/confirm/text",
        ),
    ],
)
def test_buttons_over_slacks_limits_are_refused(
    slack: SlackEmulator, client: WebClient, element: dict[str, Any], pointer: str
) -> None:
    user = slack.add_user("minji")
    refused = _refusal(client, user, _home(_section("x", accessory=element)))
    assert refused["error"] == "invalid_blocks"
    assert f"[json-pointer:/blocks/0{pointer}]" in refused["response_metadata"]["messages"][0]


def test_ids_must_be_unique_where_slack_says(slack: SlackEmulator, client: WebClient) -> None:
    user = slack.add_user("minji")
    twice = _home(_section("a", block_id="same"), _section("b", block_id="same"))
    assert "Block ID needs to be unique" in str(_refusal(client, user, twice))
    actions = {"type": "actions", "elements": [_button(), _button(value="2")]}
    assert "action_id must be unique" in str(_refusal(client, user, _home(actions)))
    one_each = _home(_section("a", accessory=_button()), _section("b", accessory=_button()))
    assert client.views_publish(user_id=user, view=one_each)["ok"]  # unique per block


def test_a_click_on_a_home_button_is_a_view_block_actions_payload(
    slack: SlackEmulator, client: WebClient, receiver: Receiver
) -> None:
    user = slack.add_user("minji")
    view = _home(_section("job-1", accessory=_button(action_id="promote", value="job-1")))
    published = client.views_publish(user_id=user, view=view)["view"]

    assert slack.click_home_button(user, "promote") == 200

    [request] = receiver.requests
    payload = json.loads(parse_qs(request["body"].decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == user
    assert payload["container"] == {"type": "view", "view_id": published["id"]}
    assert payload["view"]["id"] == published["id"] and "response_url" not in payload
    [action] = payload["actions"]
    assert (action["action_id"], action["value"]) == ("promote", "job-1")
    assert action["block_id"] == published["blocks"][0]["block_id"]


def test_chat_update_keeps_each_edit_and_replaces_the_metadata(
    slack: SlackEmulator, client: WebClient
) -> None:
    dm = slack.open_dm(slack.add_user("minji"))
    metadata = {"event_type": "plan", "event_payload": {"version": 1}}
    ts = client.chat_postMessage(channel=dm, text="one", metadata=metadata)["ts"]
    newer = copy.deepcopy(metadata)
    newer["event_payload"]["version"] = 2

    client.chat_update(channel=dm, ts=ts, text="two", metadata=newer)
    client.chat_update(channel=dm, ts=ts, text="three")

    assert [e["text"] for e in slack.edits(dm, ts)] == ["two", "three"]
    history = client.conversations_history(channel=dm, include_all_metadata=True)
    [message] = history["messages"]
    assert message["text"] == "three" and message["metadata"] == newer
