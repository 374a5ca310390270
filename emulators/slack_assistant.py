"""assistant.threads.* in the Slack emulator: a thread's status, its title, suggested prompts.

From the method references (docs.slack.dev/reference/methods/assistant.threads.setStatus,
.setSuggestedPrompts, .setTitle) and the agent messaging guide
(docs.slack.dev/ai/migrating-to-agent-messaging):

- setStatus takes channel_id, thread_ts and status; loading_messages (rotated while the app
  works) are at most 10. An empty status clears it, so does the app's next reply in the
  thread, and it lapses after two minutes without one.
- setSuggestedPrompts takes channel_id and up to four prompts, each with a title and a
  message, plus an optional title for the list. An agent app (agent_view) leaves thread_ts
  out and the prompts go on its Messages tab; given a thread_ts, its call "silently fails":
  ok, and nothing changes. An assistant app's prompts without thread_ts go on the latest
  message of the channel.
- setTitle takes channel_id, thread_ts and title.

A channel it cannot see is channel_not_found; a thread_ts naming no message of the channel
is invalid_thread_ts; a missing or malformed argument is invalid_arguments.
"""

from __future__ import annotations

import time
from typing import Any

from emulators.slack_state import (
    AssistantThread,
    Conversation,
    Params,
    SlackError,
    Workspace,
    json_param,
    required,
)

Result = dict[str, Any]
STATUS_TIMEOUT = 120.0  # seconds a status shows without a reply
MAX_LOADING_MESSAGES = 10
MAX_PROMPTS = 4


def _invalid(message: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {message}"]})


def _thread(ws: Workspace, p: Params, *, needs_thread: bool) -> tuple[Conversation, str | None]:
    conv = ws.conversation(required(p, "channel_id"))
    thread_ts = p.get("thread_ts") or None
    if thread_ts is None and needs_thread:
        raise _invalid("missing required field: thread_ts")
    if thread_ts is not None and thread_ts not in conv.messages:
        raise SlackError("invalid_thread_ts")
    return conv, thread_ts


def _record(ws: Workspace, channel: str, thread_ts: str | None) -> AssistantThread:
    return ws.assistant_threads.setdefault((channel, thread_ts), AssistantThread())


def _strings(value: Any, field: str, most: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"{field} must be an array of strings")
    if len(value) > most:
        raise _invalid(f"{field} must provide no more than {most} items")
    return list(value)


def _end(thread: AssistantThread, how: str) -> None:
    if thread.status and thread.statuses:
        thread.statuses[-1]["ended"] = how
    thread.status, thread.loading_messages = "", []


def expire(thread: AssistantThread) -> None:
    """Apply Slack's two-minute lapse to a status no reply has cleared."""
    if thread.status and time.monotonic() - thread.status_set_at > STATUS_TIMEOUT:
        _end(thread, "timeout")


def set_status(ws: Workspace, p: Params) -> Result:
    conv, thread_ts = _thread(ws, p, needs_thread=True)
    status = p.get("status")
    if status is None:
        raise _invalid("missing required field: status")
    if not isinstance(status, str):
        raise _invalid("status must be a string")
    raw = json_param(p, "loading_messages")
    loading = _strings(raw, "loading_messages", MAX_LOADING_MESSAGES) if raw is not None else []
    thread = _record(ws, conv.id, thread_ts)
    expire(thread)
    _end(thread, "replaced" if status else "empty status")
    if status:
        thread.status, thread.loading_messages = status, loading
        thread.status_set_at = time.monotonic()
        thread.statuses.append({"status": status, "loading_messages": loading, "ended": None})
    return {"ok": True}


def reply_posted(ws: Workspace, channel: str, thread_ts: str | None) -> None:
    """The app posted in a thread: Slack clears the status it showed there."""
    thread = ws.assistant_threads.get((channel, thread_ts)) if thread_ts else None
    if thread is not None:
        expire(thread)
        _end(thread, "reply")


def _prompts(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise _invalid("prompts must provide at least 1 item")
    if len(value) > MAX_PROMPTS:
        raise _invalid(f"prompts must provide no more than {MAX_PROMPTS} items")
    prompts = []
    for n, prompt in enumerate(value):
        if not isinstance(prompt, dict):
            raise _invalid(f"prompts/{n} must be an object")
        for key in ("title", "message"):
            if not isinstance(prompt.get(key), str) or not prompt[key]:
                raise _invalid(f"prompts/{n}/{key} must be a non-empty string")
        prompts.append({"title": prompt["title"], "message": prompt["message"]})
    return prompts


def set_suggested_prompts(ws: Workspace, p: Params) -> Result:
    conv, thread_ts = _thread(ws, p, needs_thread=False)
    prompts = _prompts(json_param(p, "prompts"))
    title = p.get("title")
    if title is not None and not isinstance(title, str):
        raise _invalid("title must be a string")
    if ws.experience == "agent" and thread_ts is not None:
        return {"ok": True}  # documented: an agent app's call with thread_ts does nothing
    if ws.experience == "assistant" and thread_ts is None:
        if not conv.messages:
            raise SlackError("message_not_found")
        thread_ts = next(reversed(conv.messages))
    thread = _record(ws, conv.id, thread_ts)
    thread.prompts, thread.prompts_title = prompts, title or None
    return {"ok": True}


def set_title(ws: Workspace, p: Params) -> Result:
    conv, thread_ts = _thread(ws, p, needs_thread=True)
    title = p.get("title")
    if not isinstance(title, str) or not title:
        raise _invalid("missing required field: title")
    _record(ws, conv.id, thread_ts).title = title
    return {"ok": True}
