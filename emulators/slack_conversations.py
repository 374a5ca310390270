"""Slack Web API read methods: auth.test, conversations.*, users.*, bots.*."""

from __future__ import annotations

import base64
from typing import Any

from emulators.slack_state import Conversation, Params, SlackError, Workspace, required

Result = dict[str, Any]


def auth_test(ws: Workspace, p: Params) -> Result:
    return {
        "ok": True,
        "url": f"https://{ws.domain}.slack.com/",
        "team": ws.team_name,
        "user": ws.users[ws.bot_user_id]["name"],
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _cursor_ts(cursor: str) -> str:
    try:
        kind, _, ts = base64.b64decode(cursor).decode().partition(":")
    except ValueError as exc:
        raise SlackError("invalid_cursor") from exc
    if kind != "next_ts" or not ts:
        raise SlackError("invalid_cursor")
    return ts


def _limit(p: Params, default: int) -> int:
    try:
        limit = int(p.get("limit") or default)
    except (TypeError, ValueError) as exc:
        raise SlackError("invalid_limit") from exc
    return max(1, min(limit, 1000))


def _within(p: Params, ts: str) -> bool:
    inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")
    oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or 1e12)
    value = float(ts)
    if inclusive:
        return oldest <= value <= latest
    return oldest < value < latest


def _page(items: list[dict[str, Any]], p: Params, default: int, newest_first: bool) -> Result:
    if cursor := p.get("cursor"):
        start_ts = float(_cursor_ts(cursor))
        items = [
            m
            for m in items
            if (float(m["ts"]) <= start_ts if newest_first else float(m["ts"]) >= start_ts)
        ]
    limit = _limit(p, default)
    page, rest = items[:limit], items[limit:]
    return {
        "ok": True,
        "messages": page,
        "has_more": bool(rest),
        "response_metadata": {"next_cursor": _cursor(rest[0]["ts"]) if rest else ""},
    }


def replies(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    thread = ws.thread(conv, required(p, "ts"))
    return _page([m for m in thread if _within(p, m["ts"])], p, 1000, newest_first=False)


def history(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    items = [m for m in reversed(ws.history(conv)) if _within(p, m["ts"])]
    return _page(items, p, 100, newest_first=True) | {"pin_count": 0}


def channel_object(ws: Workspace, conv: Conversation) -> dict[str, Any]:
    base: dict[str, Any] = {"id": conv.id, "created": conv.created, "is_archived": False}
    base |= {"is_org_shared": False, "context_team_id": ws.team_id, "updated": conv.created * 1000}
    if conv.is_im:
        return base | {"is_im": True, "user": conv.user, "is_user_deleted": False, "priority": 0}
    return base | {
        "name": conv.name,
        "name_normalized": conv.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": False,
        "is_general": conv.name == "general",
        "is_shared": False,
        "is_ext_shared": False,
        "is_member": True,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
    }


def info(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    return {"ok": True, "channel": channel_object(ws, conv)}


def open_conversation(ws: Workspace, p: Params) -> Result:
    if channel := p.get("channel"):
        return {"ok": True, "channel": {"id": ws.conversation(channel).id}}
    users = [u.strip() for u in str(required(p, "users")).split(",") if u.strip()]
    if len(users) != 1:
        raise SlackError(
            "not_enough_users" if not users else "method_not_supported_for_channel_type"
        )
    dm_id, existed = ws.open_dm(users[0])
    return {"ok": True, "no_op": existed, "already_open": existed, "channel": {"id": dm_id}}


def list_conversations(ws: Workspace, p: Params) -> Result:
    types = str(p.get("types") or "public_channel").split(",")
    wanted = [
        c
        for c in ws.conversations.values()
        if ("im" in types and c.is_im) or ("public_channel" in types and not c.is_im)
    ]
    channels = [channel_object(ws, c) for c in wanted]
    return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}


def members(ws: Workspace, p: Params) -> Result:
    conv = ws.conversation(required(p, "channel"))
    ids = [ws.bot_user_id, conv.user] if conv.is_im else list(ws.users)
    return {"ok": True, "members": ids, "response_metadata": {"next_cursor": ""}}


def user_info(ws: Workspace, p: Params) -> Result:
    user = ws.users.get(required(p, "user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"ok": True, "user": dict(user)}


def user_list(ws: Workspace, p: Params) -> Result:
    return {
        "ok": True,
        "members": list(ws.users.values()),
        "response_metadata": {"next_cursor": ""},
    }


def bot_info(ws: Workspace, p: Params) -> Result:
    if p.get("bot") not in (None, ws.bot_id):
        raise SlackError("bot_not_found")
    bot = {"id": ws.bot_id, "deleted": False, "name": "tunebot", "app_id": ws.app_id}
    return {"ok": True, "bot": bot | {"user_id": ws.bot_user_id, "updated": 0, "icons": {}}}
