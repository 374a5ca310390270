"""Slack views.* methods (modals and App Home) and the short-lived trigger ids that open them."""

from __future__ import annotations

import time
from typing import Any

from emulators import slack_home as home
from emulators.slack_blocks import check_blocks
from emulators.slack_state import Params, SlackError, Workspace, json_param, required

Result = dict[str, Any]
TRIGGER_TTL = 3.0  # seconds; Slack refuses a trigger_id older than this
LABEL_MAX, PRIVATE_METADATA_MAX, CALLBACK_ID_MAX = 24, 3000, 255


def issue_trigger(ws: Workspace) -> str:
    with ws.lock:
        count = len(ws.triggers) + 1
        trigger_id = f"{count}{int(time.time())}.{ws.team_id[1:]}.{count:032x}"
        ws.triggers[trigger_id] = time.monotonic()
        return trigger_id


def _use_trigger(ws: Workspace, trigger_id: str) -> None:
    if trigger_id not in ws.triggers:
        raise SlackError("invalid_trigger_id")
    issued = ws.triggers[trigger_id]
    if issued is None:
        raise SlackError("exchanged_trigger_id")
    if time.monotonic() - issued > TRIGGER_TTL:
        raise SlackError("expired_trigger_id")
    ws.triggers[trigger_id] = None


def _invalid(message: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {message}"]})


def _check_label(view: dict[str, Any], key: str) -> None:
    label = view.get(key)
    if label is None:
        return
    if not isinstance(label, dict) or label.get("type") != "plain_text":
        raise _invalid(f"{key} must be a plain_text object [json-pointer:/view/{key}]")
    if not label.get("text") or len(label["text"]) > LABEL_MAX:
        raise _invalid(f"{key} must be 1 to {LABEL_MAX} characters [json-pointer:/view/{key}]")


def _view_payload(p: Params) -> dict[str, Any]:
    """The view object's checks (docs.slack.dev/reference/views/modal-views and
    home-tab-views): a modal's title (and its close and submit labels) are plain text of at
    most 24 characters, and a modal with input blocks needs submit; every view has at most
    100 blocks, private_metadata of at most 3000 characters, a callback_id of at most 255."""
    view = json_param(p, "view")
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        raise _invalid("invalid view type")
    blocks = view.get("blocks") or []
    if view["type"] == "modal":
        if not view.get("title"):
            raise _invalid("missing title")
        for key in ("title", "close", "submit"):
            _check_label(view, key)
        if not view.get("submit") and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        ):
            raise _invalid("submit is required with input blocks [json-pointer:/view/submit]")
    if len(blocks) > 100:
        raise _invalid("too many blocks")
    if len(str(view.get("private_metadata") or "")) > PRIVATE_METADATA_MAX:
        raise _invalid(
            f"private_metadata must be at most {PRIVATE_METADATA_MAX} characters "
            "[json-pointer:/view/private_metadata]"
        )
    if len(str(view.get("callback_id") or "")) > CALLBACK_ID_MAX:
        raise _invalid(
            f"callback_id must be at most {CALLBACK_ID_MAX} characters "
            "[json-pointer:/view/callback_id]"
        )
    return view | {"blocks": check_blocks(blocks, surface=view["type"])}


def _store(
    ws: Workspace, view: dict[str, Any], *, view_id: str | None = None, **links: Any
) -> Result:
    view_id = view_id or ws.next_id("V")
    stored = {
        "id": view_id,
        "team_id": ws.team_id,
        "type": view["type"],
        "title": view.get("title"),
        "submit": view.get("submit"),
        "close": view.get("close"),
        "blocks": view.get("blocks") or [],
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "external_id": view.get("external_id", ""),
        "state": {"values": {}},
        "hash": f"{int(time.time())}.{ws.next_ts().replace('.', '')[-8:]}",
        "clear_on_close": bool(view.get("clear_on_close")),
        "notify_on_close": bool(view.get("notify_on_close")),
        "root_view_id": links.get("root_view_id") or view_id,
        "previous_view_id": links.get("previous_view_id"),
        "app_id": ws.app_id,
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    } | {k: v for k, v in links.items() if k == "user"}
    ws.views[view_id] = stored
    return {"ok": True, "view": dict(stored)}


def open_view(ws: Workspace, p: Params) -> Result:
    _use_trigger(ws, required(p, "trigger_id"))
    return _store(ws, _view_payload(p))


def push_view(ws: Workspace, p: Params) -> Result:
    _use_trigger(ws, required(p, "trigger_id"))
    modals = [v for v in ws.views.values() if v["type"] == "modal"]
    previous = modals[-1] if modals else None
    root = previous["root_view_id"] if previous else None
    return _store(
        ws, _view_payload(p), root_view_id=root, previous_view_id=previous and previous["id"]
    )


def _find(ws: Workspace, p: Params) -> dict[str, Any]:
    if view_id := p.get("view_id"):
        found = ws.views.get(view_id)
    elif external_id := p.get("external_id"):
        found = next((v for v in ws.views.values() if v["external_id"] == external_id), None)
    else:
        raise SlackError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] view_id or external_id"]}
        )
    if found is None:
        raise SlackError("not_found")
    return found


def update_view(ws: Workspace, p: Params) -> Result:
    current = _find(ws, p)
    if p.get("hash") and p["hash"] != current["hash"]:
        raise SlackError("hash_conflict")
    links = {k: current[k] for k in ("root_view_id", "previous_view_id")}
    return _store(ws, _view_payload(p), view_id=current["id"], **links)


def publish_view(ws: Workspace, p: Params) -> Result:
    user = required(p, "user_id")
    if user not in ws.users:
        raise SlackError("user_not_found")
    home.check_publish(ws, json_param(p, "view"), user)
    view = _view_payload(p)
    current = next(
        (v for v in ws.views.values() if v["type"] == "home" and v.get("user") == user), None
    )
    if current is not None and p.get("hash") and p["hash"] != current["hash"]:
        raise SlackError("hash_conflict")
    return _store(ws, view, view_id=current["id"] if current else None, user=user)
