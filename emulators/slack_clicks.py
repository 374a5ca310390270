"""Clicks on the bot's messages as Slack reports them: `block_actions` payloads.

Shapes from the interaction payload reference (docs.slack.dev/reference/interaction-payloads/
block_actions-payload) and bolt-js's FeedbackButtonsAction type: a feedback button sends an
action of type `feedback_buttons` with the clicked button's `value` and `text`; a click in an
ephemeral message carries `container.is_ephemeral` and no `message`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from emulators.slack_state import Workspace


def _action_ts() -> str:
    return f"{time.time():.6f}"


def _find_element(
    blocks: list[dict[str, Any]], kinds: set[str], action_id: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in blocks or []:
        candidates = list(block.get("elements") or [])
        if block.get("accessory"):
            candidates.append(block["accessory"])
        for element in candidates:
            if not isinstance(element, dict) or element.get("type") not in kinds:
                continue
            if action_id is None or element.get("action_id") == action_id:
                return block, element
    raise ValueError(f"no {'/'.join(sorted(kinds))} element {action_id or ''} in those blocks")


def feedback_click(
    ws: Workspace, user_id: str, channel: str, ts: str, *, positive: bool
) -> dict[str, Any]:
    """The payload of a click on 👍 (positive) or 👎 under the bot message at `ts`."""
    with ws.lock:
        conv = ws.conversation(channel)
        message = copy.deepcopy(ws.find_message(conv, ts))
    block, element = _find_element(message.get("blocks") or [], {"feedback_buttons"}, None)
    button = element["positive_button" if positive else "negative_button"]
    container = {
        "type": "message",
        "message_ts": ts,
        "channel_id": conv.id,
        "is_ephemeral": False,
    }
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "container": container,
        "channel": {"id": conv.id, "name": conv.name},
        "message": message,
        "state": {"values": {}},
        "actions": [
            {
                "type": "feedback_buttons",
                "action_id": element.get("action_id", ""),
                "block_id": block["block_id"],
                "text": copy.deepcopy(button["text"]),
                "value": button["value"],
                "action_ts": _action_ts(),
            }
        ],
    }


def ephemeral_button_click(ws: Workspace, user_id: str, action_id: str) -> dict[str, Any]:
    """The payload of a click on button `action_id` in the latest ephemeral shown to the user."""
    with ws.lock:
        shown = [
            copy.deepcopy(e)
            for e in ws.ephemeral
            if e["user"] == user_id and any(_has(b, action_id) for b in e.get("blocks") or [])
        ]
    if not shown:
        raise ValueError(f"{user_id} was shown no ephemeral message with a {action_id} button")
    ephemeral = shown[-1]
    block, element = _find_element(ephemeral["blocks"], {"button"}, action_id)
    with ws.lock:
        conv = ws.conversation(ephemeral["channel"])
    container = {
        "type": "message",
        "message_ts": ephemeral["ts"],
        "channel_id": conv.id,
        "is_ephemeral": True,
    }
    if ephemeral.get("thread_ts"):
        container["thread_ts"] = ephemeral["thread_ts"]
    return {
        "type": "block_actions",
        "container": container,
        "channel": {"id": conv.id, "name": conv.name},
        "state": {"values": {}},
        "actions": [button_action(block, element)],
    }


def button_action(block: dict[str, Any], element: dict[str, Any]) -> dict[str, Any]:
    """The `actions` entry of a click on `element`, a button in `block`."""
    return {
        "type": "button",
        "action_id": element["action_id"],
        "block_id": block["block_id"],
        "text": copy.deepcopy(element["text"]),
        "value": element.get("value", ""),
        "action_ts": _action_ts(),
    }


def _has(block: dict[str, Any], action_id: str) -> bool:
    elements = [*(block.get("elements") or []), block.get("accessory") or {}]
    return any(isinstance(e, dict) and e.get("action_id") == action_id for e in elements)
