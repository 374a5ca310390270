"""The Slack emulator checks Block Kit as Slack does and reports feedback clicks as Slack does."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ContextActionsBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
)

from emulators.slack import SlackEmulator
from tests.slack_helpers import Receiver

FEEDBACK = ContextActionsBlock(
    elements=[
        FeedbackButtonsElement(
            action_id="rate",
            positive_button=FeedbackButtonObject(text="Good", value="good"),
            negative_button=FeedbackButtonObject(text="Bad", value="bad"),
        )
    ]
).to_dict()


@pytest.fixture
def client(slack: SlackEmulator) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def _refusal(call: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        call()
    return f"{raised.value.response['error']} {raised.value.response.get('response_metadata')}"


def test_feedback_buttons_are_accepted_under_a_stopped_stream(
    slack: SlackEmulator, client: WebClient
) -> None:
    user, channel = slack.add_user("minji"), slack.add_channel("general")
    ts = slack.post_as_user(user, channel, "question").ts
    stream = client.chat_stream(
        channel=channel, thread_ts=ts, recipient_user_id=user, recipient_team_id=slack.team_id
    )
    stream.append(markdown_text="An answer.")
    stream.stop(blocks=[FEEDBACK])

    reply = slack.messages(channel, ts)[-1]
    assert reply["blocks"][0]["type"] == "context_actions" and reply["blocks"][0]["block_id"]


def test_unknown_or_misplaced_blocks_are_refused_as_slack_refuses_them(
    slack: SlackEmulator, client: WebClient
) -> None:
    channel = slack.add_channel("general")
    buttons = FEEDBACK["elements"][0]
    unknown = _refusal(
        lambda: client.chat_postMessage(channel=channel, text="t", blocks=[{"type": "x"}])
    )
    misplaced = _refusal(
        lambda: client.chat_postMessage(
            channel=channel, text="t", blocks=[{"type": "actions", "elements": [buttons]}]
        )
    )
    no_value = {**buttons, "negative_button": {"text": {"type": "plain_text", "text": "Bad"}}}
    missing = _refusal(
        lambda: client.chat_postMessage(
            channel=channel,
            text="t",
            blocks=[{"type": "context_actions", "elements": [no_value]}],
        )
    )
    empty = _refusal(
        lambda: client.chat_postMessage(
            channel=channel, text="t", blocks=[{"type": "context_actions", "elements": []}]
        )
    )

    assert unknown.startswith("invalid_blocks") and "unsupported type: x" in unknown
    assert misplaced.startswith("invalid_blocks") and "/blocks/0/elements/0/type" in misplaced
    assert "negative_button/value" in missing
    assert "at least 1 item" in empty


def test_feedback_buttons_do_not_go_in_a_modal(
    slack: SlackEmulator, receiver: Receiver, client: WebClient
) -> None:
    user = slack.add_user("minji")
    slack.send_interaction(user, {"type": "shortcut", "callback_id": "x"})
    payload = json.loads(parse_qs(receiver.requests[0]["body"].decode())["payload"][0])
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [FEEDBACK]}

    refused = _refusal(lambda: client.views_open(trigger_id=payload["trigger_id"], view=view))

    assert refused.startswith("invalid_blocks")


def test_a_feedback_click_sends_the_block_actions_payload_slack_sends(
    slack: SlackEmulator, receiver: Receiver, client: WebClient
) -> None:
    user, channel = slack.add_user("minji"), slack.add_channel("general")
    ts = slack.post_as_user(user, channel, "question").ts
    posted = client.chat_postMessage(channel=channel, thread_ts=ts, text="A", blocks=[FEEDBACK])
    receiver.requests.clear()

    assert slack.click_feedback(user, channel, posted["ts"], positive=False) == 200

    body = parse_qs(receiver.requests[-1]["body"].decode())
    payload = json.loads(body["payload"][0])
    [action] = payload["actions"]
    assert payload["type"] == "block_actions" and payload["user"]["id"] == user
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": channel,
        "is_ephemeral": False,
        "thread_ts": ts,
    }
    assert payload["message"]["ts"] == posted["ts"] and payload["trigger_id"]
    assert payload["response_url"].startswith(slack.origin)
    assert action["type"] == "feedback_buttons" and action["action_id"] == "rate"
    assert action["value"] == "bad" and action["text"]["text"] == "Bad"
    assert action["block_id"] == payload["message"]["blocks"][0]["block_id"]
