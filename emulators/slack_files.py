"""Slack files: file objects, the external upload flow (files_upload_v2), private hosting."""

from __future__ import annotations

import mimetypes
import time
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from emulators._wire import Request, Response
from emulators.slack_state import Params, SlackError, Workspace, json_param, required

Result = dict[str, Any]

# Real Slack answers an unauthenticated url_private fetch with its sign-in page, status 200.
LOGIN_PAGE = (
    b"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Slack</title></head>"
    b"<body><h1>Sign in to Emulator Workspace</h1><form action='/signin'></form></body></html>"
)
_TEXT_EXTENSIONS = {"jsonl", "ndjson", "txt", "log"}


def file_object(
    ws: Workspace,
    user_id: str,
    name: str,
    size: int,
    *,
    file_id: str | None = None,
    title: str | None = None,
    filetype: str | None = None,
    mimetype: str | None = None,
) -> dict[str, Any]:
    file_id = file_id or ws.next_id("F", PurePosixPath(name).stem)
    extension = PurePosixPath(name).suffix.lstrip(".").lower()
    guessed = mimetypes.guess_type(name)[0]
    mimetype = (
        mimetype
        or guessed
        or ("text/plain" if extension in _TEXT_EXTENSIONS else "application/octet-stream")
    )
    filetype = filetype or {"txt": "text", "": "binary"}.get(extension, extension)
    private = f"{ws.origin}/files-pri/{ws.team_id}-{file_id}"
    now = int(time.time())
    return {
        "id": file_id,
        "created": now,
        "timestamp": now,
        "name": name,
        "title": title or name,
        "mimetype": mimetype,
        "filetype": filetype,
        "pretty_type": filetype.upper(),
        "user": user_id,
        "user_team": ws.team_id,
        "editable": False,
        "size": size,
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": False,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        # Slack percent-encodes the file's name in its URLs (spaces, Korean, ...).
        "url_private": f"{private}/{quote(name)}",
        "url_private_download": f"{private}/download/{quote(name)}",
        "permalink": f"https://{ws.domain}.slack.com/files/{user_id}/{file_id}/{name}",
        "channels": [],
        "groups": [],
        "ims": [],
        "has_rich_preview": False,
        "file_access": "visible",
    }


def add_file(ws: Workspace, user_id: str, name: str, content: bytes, **kind: Any) -> dict[str, Any]:
    with ws.lock:
        if user_id not in ws.users:
            raise SlackError("user_not_found")
        obj = file_object(ws, user_id, name, len(content), **kind)
        ws.files[obj["id"]] = obj
        ws.file_data[obj["id"]] = content
        return dict(obj)


def info(ws: Workspace, p: Params) -> Result:
    obj = ws.files.get(required(p, "file"))
    if obj is None:
        raise SlackError("file_not_found")
    return {"ok": True, "file": dict(obj), "comments": [], "response_metadata": {"next_cursor": ""}}


def get_upload_url(ws: Workspace, p: Params) -> Result:
    filename = required(p, "filename")
    try:
        length = int(required(p, "length"))
    except ValueError as exc:
        raise SlackError("invalid_arguments") from exc
    if length < 1:
        raise SlackError("invalid_arguments")
    file_id = ws.next_id("F", PurePosixPath(filename).stem)
    ws.pending_uploads[file_id] = {"filename": filename, "length": length, "data": None}
    return {"ok": True, "upload_url": f"{ws.origin}/upload/v1/{file_id}", "file_id": file_id}


def receive_upload(ws: Workspace, request: Request) -> Response:
    """The upload_url: slack_sdk POSTs raw bytes (urllib labels them form-encoded regardless)."""
    data = request.body
    if request.content_type == "multipart/form-data":
        parts = request.multipart()
        chosen = parts.get("file") or next((p for p in parts.values() if p.filename), None)
        data = chosen.data if chosen else b""
    with ws.lock:
        ticket = ws.pending_uploads.get(request.params["file_id"])
        if ticket is None:
            return Response(404, b"invalid_upload_url", {"Content-Type": "text/plain"})
        ticket["data"] = data
    return Response(
        200, f"OK - {len(data)}".encode(), {"Content-Type": "text/plain; charset=utf-8"}
    )


def complete_upload(ws: Workspace, p: Params) -> Result:
    entries = json_param(p, "files")
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments")
    channels = [c for c in str(p.get("channels") or "").split(",") if c]
    if p.get("channel_id"):
        channels.insert(0, p["channel_id"])
    try:
        targets = [ws.conversation(c) for c in channels]
    except SlackError as exc:
        raise SlackError("invalid_channel") from exc
    done = []
    for entry in entries:
        ticket = ws.pending_uploads.get(entry.get("id", ""))
        if ticket is None or ticket["data"] is None:
            raise SlackError("file_not_found")
    for entry in entries:
        ticket = ws.pending_uploads.pop(entry["id"])
        size, title = len(ticket["data"]), entry.get("title")
        obj = file_object(
            ws, ws.bot_user_id, ticket["filename"], size, file_id=entry["id"], title=title
        )
        ws.files[entry["id"]], ws.file_data[entry["id"]] = obj, ticket["data"]
        done.append(obj)
    comment = p.get("initial_comment") or ""
    for conv in targets:
        for obj in done:
            obj["ims" if conv.is_im else "channels"].append(conv.id)
        message = ws.bot_message(
            comment, thread_ts=p.get("thread_ts"), files=[dict(f) for f in done], upload=True
        )
        ws.add_message(conv, message)
    for obj in done:
        record = {"file_id": obj["id"], "filename": obj["name"], "title": obj["title"]}
        record |= {"bytes": ws.file_data[obj["id"]], "initial_comment": comment or None}
        channels_or_none: list[str | None] = [c.id for c in targets] or [None]
        for channel in channels_or_none:
            ws.uploads.append(record | {"channel": channel, "thread_ts": p.get("thread_ts")})
    return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in done]}


def serve_private(ws: Workspace, request: Request, bot_token: str) -> Response:
    team_file, _, _ = request.params["ref"].partition("/")
    file_id = team_file.removeprefix(f"{ws.team_id}-")
    token = request.bearer()
    with ws.lock:
        authorized = token == bot_token and file_id in ws.file_data
        ws.file_fetches.append(
            {
                "file_id": file_id,
                "path": request.path,
                "auth_header": token is not None,
                "authorized": authorized,
            }
        )
        if not authorized:
            return Response(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        obj, data = ws.files[file_id], ws.file_data[file_id]
    headers = {
        "Content-Type": obj["mimetype"],
        # RFC 6266/5987: a name outside ASCII travels percent-encoded as UTF-8.
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(obj['name'])}",
    }
    return Response(200, data, headers)
