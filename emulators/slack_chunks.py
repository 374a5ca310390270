"""Streaming chunks as chat.startStream / appendStream / stopStream check them.

From the method references (docs.slack.dev/reference/methods/chat.startStream and its
siblings) and the chunk types of slack_sdk 3.40+ (slack_sdk/models/messages/chunk.py) and
@slack/types (chunk.ts):

- markdown_text: `text`.
- task_update: `id`, `title` and `status` (pending, in_progress, complete or error), with
  optional `details`, `output` and `sources` (url source elements: `type` "url", `url`, `text`).
- plan_update: `title`.
- blocks: `blocks`, checked as message blocks.

startStream's task_display_mode is "timeline" (the default) or "plan". Anything else is
refused with invalid_arguments and a message naming the field.
"""

from __future__ import annotations

from typing import Any

from emulators.slack_blocks import check_blocks
from emulators.slack_state import Params, SlackError, json_param

TASK_STATUSES = {"pending", "in_progress", "complete", "error"}
DISPLAY_MODES = {"timeline", "plan"}
_STRINGS = {
    "markdown_text": ({"text"}, set()),
    "task_update": ({"id", "title", "status"}, {"details", "output"}),
    "plan_update": ({"title"}, set()),
    "blocks": (set(), set()),
}


def _refuse(message: str, where: str) -> SlackError:
    return SlackError(
        "invalid_arguments",
        response_metadata={"messages": [f"[ERROR] {message} [json-pointer:{where}]"]},
    )


def _chunk(chunk: Any, where: str) -> dict[str, Any]:
    if not isinstance(chunk, dict):
        raise _refuse("must be an object", where)
    kind = chunk.get("type")
    if kind not in _STRINGS:
        raise _refuse(f"unsupported chunk type: {kind}", f"{where}/type")
    needed, optional = _STRINGS[kind]
    for key in sorted(needed):
        if not isinstance(chunk.get(key), str) or not chunk[key]:
            raise _refuse("must provide a non-empty string", f"{where}/{key}")
    for key in sorted(optional):
        if key in chunk and not isinstance(chunk[key], str):
            raise _refuse("must be a string", f"{where}/{key}")
    if kind == "task_update":
        if chunk["status"] not in TASK_STATUSES:
            raise _refuse(f"must be one of {sorted(TASK_STATUSES)}", f"{where}/status")
        for n, source in enumerate(chunk.get("sources") or []):
            if (
                not isinstance(source, dict)
                or source.get("type") != "url"
                or not all(isinstance(source.get(k), str) and source[k] for k in ("url", "text"))
            ):
                raise _refuse("must be a url source with url and text", f"{where}/sources/{n}")
    if kind == "blocks":
        blocks = check_blocks(chunk.get("blocks"))
        if not blocks:
            raise _refuse("must provide at least 1 item", f"{where}/blocks")
        return {**chunk, "blocks": blocks}
    return chunk


def check_chunks(p: Params) -> list[dict[str, Any]]:
    """The call's chunks as Slack would take them, or SlackError("invalid_arguments")."""
    mode = p.get("task_display_mode")
    if mode is not None and mode not in DISPLAY_MODES:
        raise _refuse(f"must be one of {sorted(DISPLAY_MODES)}", "/task_display_mode")
    chunks = json_param(p, "chunks")
    if chunks is None:
        return []
    if not isinstance(chunks, list):
        raise _refuse("must provide an array", "/chunks")
    return [_chunk(chunk, f"/chunks/{n}") for n, chunk in enumerate(chunks)]
