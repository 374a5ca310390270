"""What emulated people do in Slack (post, edit, delete) and the message events that follows."""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

from emulators.slack_chat import remove
from emulators.slack_events import Delivery, EventSender
from emulators.slack_state import Conversation, SlackError, Workspace


def _channel_type(conv: Conversation) -> str:
    return "im" if conv.is_im else "channel"


def _resolve_files(ws: Workspace, files: list[Any]) -> list[dict[str, Any]]:
    resolved = []
    for item in files:
        file_id = item["id"] if isinstance(item, dict) else str(item)
        if file_id not in ws.files:
            raise ValueError(f"unknown file {file_id}: add it with add_file() first")
        resolved.append(ws.files[file_id])
    return resolved


def post(
    ws: Workspace,
    sender: EventSender,
    user_id: str,
    channel: str,
    text: str,
    *,
    thread_ts: str | None = None,
    files: list[Any] | None = None,
) -> Delivery:
    with ws.lock:
        if user_id not in ws.users:
            raise ValueError(f"unknown user {user_id}: add it with add_user() first")
        conv = ws.conversation(channel)
        message = ws.user_message(user_id, text, thread_ts=thread_ts)
        message["client_msg_id"] = str(uuid.uuid4())
        if files:
            shared = _resolve_files(ws, files)
            for obj in shared:
                obj["ims" if conv.is_im else "channels"].append(conv.id)
            message |= {"subtype": "file_share", "files": copy.deepcopy(shared), "upload": False}
            message["display_as_bot"] = False
        ws.add_message(conv, message)
        located = {"channel": conv.id, "event_ts": message["ts"]}
        events = [copy.deepcopy(message) | located | {"channel_type": _channel_type(conv)}]
        # In channels Slack sends app_mention as a second event with its own id; never in DMs.
        if not conv.is_im and f"<@{ws.bot_user_id}>" in text:
            mention = {
                k: v for k, v in message.items() if k not in ("subtype", "upload", "display_as_bot")
            }
            events.append(copy.deepcopy(mention) | {"type": "app_mention"} | located)
    return sender.emit(message["ts"], events)


def edit(
    ws: Workspace, sender: EventSender, user_id: str, channel: str, ts: str, new_text: str
) -> Delivery:
    with ws.lock:
        conv = ws.conversation(channel)
        try:
            message = ws.find_message(conv, ts)
        except SlackError as exc:
            raise ValueError(f"no message {ts} in {conv.id}") from exc
        if message.get("user") != user_id:
            raise ValueError(f"{user_id} cannot edit a message {message.get('user')} posted")
        previous = copy.deepcopy(message)
        event_ts = ws.next_ts()
        message["text"] = new_text
        message["edited"] = {"user": user_id, "ts": event_ts}
        event = {
            "type": "message",
            "subtype": "message_changed",
            "message": copy.deepcopy(message),
            "previous_message": previous,
            "channel": conv.id,
            "hidden": True,
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": _channel_type(conv),
        }
    return sender.emit(ts, [event])


def delete(ws: Workspace, sender: EventSender, channel: str, ts: str) -> Delivery:
    with ws.lock:
        conv = ws.conversation(channel)
        try:
            previous = copy.deepcopy(remove(ws, conv.id, ts))
        except SlackError as exc:
            raise ValueError(f"no message {ts} in {conv.id}") from exc
        event_ts = ws.next_ts()
        event = {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "deleted_ts": ts,
            "channel": conv.id,
            "previous_message": previous,
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": _channel_type(conv),
        }
    return sender.emit(ts, [event])


def echo(ws: Workspace, sender: EventSender, channel: str, message: dict[str, Any]) -> None:
    """Send the bot its own post as a message event, as Slack does, without blocking the API."""
    with ws.lock:
        conv = ws.conversation(channel)
    event = copy.deepcopy(message) | {"channel": conv.id, "event_ts": message["ts"]}
    event["channel_type"] = _channel_type(conv)
    if sender.events_url:
        threading.Thread(target=sender.emit, args=(message["ts"], [event]), daemon=True).start()
