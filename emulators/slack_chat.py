"""Slack Web API chat.* and reactions.* methods: posting, editing, streaming and reacting."""

from __future__ import annotations

import copy
from typing import Any

from emulators.slack_assistant import reply_posted
from emulators.slack_blocks import check_blocks
from emulators.slack_chunks import check_chunks
from emulators.slack_state import Params, SlackError, Workspace, json_param, required

Result = dict[str, Any]
MAX_TEXT = 40000  # chat.postMessage truncates nothing: longer text is refused


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(message)


def post_message(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    text, blocks, attachments = (
        p.get("text") or "",
        check_blocks(json_param(p, "blocks")),
        json_param(p, "attachments"),
    )
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    extra = {"blocks": blocks, "attachments": attachments, "metadata": json_param(p, "metadata")}
    message = ws.add_message(conv, ws.bot_message(text, thread_ts=p.get("thread_ts"), **extra))
    reply_posted(ws, conv.id, p.get("thread_ts"))
    return {"ok": True, "channel": conv.id, "ts": message["ts"], "message": _public(message)}


def update(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    message = ws.find_message(conv, required(p, "ts"))
    if message.get("user") != ws.bot_user_id:
        raise SlackError("cant_update_message")
    if "text" in p:
        message["text"] = p["text"] or ""
    if "blocks" in p:
        message["blocks"] = check_blocks(json_param(p, "blocks"))
    if "attachments" in p:
        message["attachments"] = json_param(p, "attachments")
    if "metadata" in p:  # chat.update replaces the message's metadata too
        message["metadata"] = json_param(p, "metadata")
    message["edited"] = {"user": ws.bot_user_id, "ts": ws.next_ts()}
    ws.edits.append({"channel": conv.id, "ts": message["ts"]} | copy.deepcopy(message))
    result = {"channel": conv.id, "ts": message["ts"], "text": message["text"]}
    return {"ok": True, **result, "message": _public(message)}


def delete(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    ts = required(p, "ts")
    message = ws.find_message(conv, ts)
    if message.get("user") != ws.bot_user_id:
        raise SlackError("cant_delete_message")
    remove(ws, conv.id, ts)
    return {"ok": True, "channel": conv.id, "ts": ts}


def remove(ws: Workspace, channel: str, ts: str) -> dict[str, Any]:
    """Delete a message the way Slack does: a parent with replies leaves a tombstone."""
    conv = ws.conversation(channel)
    message = ws.find_message(conv, ts)
    ws.streaming.discard((conv.id, ts))
    if message.get("thread_ts", ts) == ts and ws.replies_of(conv, ts):
        conv.messages[ts] = {
            "type": "message",
            "subtype": "tombstone",
            "text": "This message was deleted.",
        }
        conv.messages[ts] |= {"user": "USLACKBOT", "ts": ts, "thread_ts": ts, "hidden": True}
    else:
        del conv.messages[ts]
    return message


def post_ephemeral(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    user = required(p, "user")
    if user not in ws.users:
        raise SlackError("user_not_in_channel")
    text, blocks = p.get("text") or "", check_blocks(json_param(p, "blocks"))
    if not text and not blocks and not p.get("attachments"):
        raise SlackError("no_text")
    ts = ws.next_ts()
    record = {"channel": conv.id, "user": user, "text": text, "blocks": blocks, "ts": ts}
    ws.ephemeral.append(record | {"thread_ts": p.get("thread_ts")})
    return {"ok": True, "message_ts": ts}


def get_permalink(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    ts = required(p, "message_ts")
    ws.find_message(conv, ts)
    link = f"https://{ws.domain}.slack.com/archives/{conv.id}/p{ts.replace('.', '')}"
    return {"ok": True, "channel": conv.id, "permalink": link}


def _stream_text(p: Params, chunks: list[dict[str, Any]]) -> str:
    """The markdown a stream call carries: `markdown_text` then any markdown_text chunks."""
    text = p.get("markdown_text") or ""
    return text + "".join(c["text"] for c in chunks if c["type"] == "markdown_text")


def _keep_chunks(message: dict[str, Any], chunks: list[dict[str, Any]]) -> None:
    # Tasks, plans and blocks stay on the message, in order, for tests to read.
    others = [c for c in chunks if c["type"] != "markdown_text"]
    if others:
        message.setdefault("chunks", []).extend(others)


def start_stream(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    thread_ts = required(p, "thread_ts")
    if not conv.is_im:
        if not p.get("recipient_user_id"):
            raise SlackError("missing_recipient_user_id")
        if not p.get("recipient_team_id"):
            raise SlackError("missing_recipient_team_id")
    chunks = check_chunks(p)
    text = _stream_text(p, chunks)
    if len(text) > ws.stream_limit:
        raise SlackError("msg_too_long")
    message = ws.add_message(conv, ws.bot_message(text, thread_ts=thread_ts))
    _keep_chunks(message, chunks)
    ws.streaming.add((conv.id, message["ts"]))
    reply_posted(ws, conv.id, thread_ts)
    return {"ok": True, "channel": conv.id, "ts": message["ts"]}


def _streaming_message(ws: Workspace, p: Params) -> tuple[str, dict[str, Any]]:
    conv = ws.conversation(required(p, "channel"))
    ts = required(p, "ts")
    if (conv.id, ts) not in ws.streaming:
        raise SlackError("message_not_in_streaming_state")
    return conv.id, ws.find_message(conv, ts)


def _grow(ws: Workspace, message: dict[str, Any], p: Params) -> None:
    chunks = check_chunks(p)
    addition = _stream_text(p, chunks)
    # The limit is on the whole message: a refused piece leaves what was streamed so far.
    if len(message["text"]) + len(addition) > ws.stream_limit:
        raise SlackError("msg_too_long")
    message["text"] += addition
    _keep_chunks(message, chunks)


def append_stream(ws: Workspace, p: Params) -> Result:
    channel, message = _streaming_message(ws, p)
    if not p.get("markdown_text") and not json_param(p, "chunks"):
        raise SlackError("no_text")
    _grow(ws, message, p)
    return {"ok": True, "channel": channel, "ts": message["ts"]}


def stop_stream(ws: Workspace, p: Params) -> Result:
    channel, message = _streaming_message(ws, p)
    blocks = check_blocks(json_param(p, "blocks"))
    _grow(ws, message, p)
    if blocks is not None:
        message["blocks"] = blocks
    if (metadata := json_param(p, "metadata")) is not None:
        message["metadata"] = metadata
    ws.streaming.discard((channel, message["ts"]))
    return {"ok": True, "channel": channel, "ts": message["ts"], "message": _public(message)}


def add_reaction(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    message = ws.find_message(conv, required(p, "timestamp"))
    name = required(p, "name").strip(":")
    reactions = message.setdefault("reactions", [])
    for reaction in reactions:
        if reaction["name"] == name:
            if ws.bot_user_id in reaction["users"]:
                raise SlackError("already_reacted")
            reaction["users"].append(ws.bot_user_id)
            reaction["count"] += 1
            return {"ok": True}
    reactions.append({"name": name, "users": [ws.bot_user_id], "count": 1})
    return {"ok": True}


def remove_reaction(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    message = ws.find_message(conv, required(p, "timestamp"))
    name = required(p, "name").strip(":")
    for reaction in message.get("reactions", []):
        if reaction["name"] == name and ws.bot_user_id in reaction["users"]:
            reaction["users"].remove(ws.bot_user_id)
            reaction["count"] -= 1
            message["reactions"] = [r for r in message["reactions"] if r["count"] > 0]
            return {"ok": True}
    raise SlackError("no_reaction")
