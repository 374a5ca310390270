"""Front door of the emulated Slack Web API: parameters, auth, injected faults, the method table."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulators import slack_assistant as assistant
from emulators import slack_chat as chat
from emulators import slack_conversations as conversations
from emulators import slack_files as files
from emulators import slack_manifest as manifest
from emulators import slack_views as views
from emulators._support import FaultQueue, random_id
from emulators._wire import BodyError, Request, Response, json_response
from emulators.slack_socket import SocketMode
from emulators.slack_state import Params, SlackError, Workspace

Method = Callable[[Workspace, Params], dict[str, Any]]

METHODS: dict[str, Method] = {
    "auth.test": conversations.auth_test,
    "apps.manifest.validate": manifest.validate_method,
    "assistant.threads.setStatus": assistant.set_status,
    "assistant.threads.setSuggestedPrompts": assistant.set_suggested_prompts,
    "assistant.threads.setTitle": assistant.set_title,
    "bots.info": conversations.bot_info,
    "chat.appendStream": chat.append_stream,
    "chat.delete": chat.delete,
    "chat.getPermalink": chat.get_permalink,
    "chat.postEphemeral": chat.post_ephemeral,
    "chat.postMessage": chat.post_message,
    "chat.startStream": chat.start_stream,
    "chat.stopStream": chat.stop_stream,
    "chat.update": chat.update,
    "conversations.history": conversations.history,
    "conversations.info": conversations.info,
    "conversations.list": conversations.list_conversations,
    "conversations.members": conversations.members,
    "conversations.open": conversations.open_conversation,
    "conversations.replies": conversations.replies,
    "files.completeUploadExternal": files.complete_upload,
    "files.getUploadURLExternal": files.get_upload_url,
    "files.info": files.info,
    "reactions.add": chat.add_reaction,
    "reactions.remove": chat.remove_reaction,
    "users.info": conversations.user_info,
    "users.list": conversations.user_list,
    "views.open": views.open_view,
    "views.publish": views.publish_view,
    "views.push": views.push_view,
    "views.update": views.update_view,
}


# Bot scopes a method needs (any one of them), for a workspace installed with a known set of
# scopes; from each method's reference page. assistant.threads.setStatus takes chat:write or,
# for now, assistant:write (docs.slack.dev/changelog/2026/03/05/set-status-scope-update).
SCOPES: dict[str, tuple[str, ...]] = {
    "assistant.threads.setStatus": ("chat:write", "assistant:write"),
    "assistant.threads.setSuggestedPrompts": ("assistant:write",),
    "assistant.threads.setTitle": ("assistant:write",),
    "chat.appendStream": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.postMessage": ("chat:write",),
    "chat.startStream": ("chat:write",),
    "chat.stopStream": ("chat:write",),
    "chat.update": ("chat:write",),
}
# The App Manifest APIs take an app configuration token, and nothing else does.
CONFIG_METHODS = {"apps.manifest.validate"}


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when the request arrived


@dataclass(frozen=True)
class Fault:
    status: int
    error: str
    retry_after: int


class WebApi:
    def __init__(
        self, ws: Workspace, bot_token: str, socket_mode: SocketMode, config_token: str
    ) -> None:
        self.ws = ws
        self.bot_token = bot_token
        self.config_token = config_token
        self.socket_mode = socket_mode
        self.calls: list[Call] = []
        self.on_call: Callable[[str, dict[str, Any]], None] | None = None
        # Told of every message chat.postMessage stores (Slack's echo of the bot's own posts).
        self.on_posted: Callable[[str, dict[str, Any]], None] | None = None
        self.faults: FaultQueue[Fault] = FaultQueue()
        self.delays: FaultQueue[float] = FaultQueue()
        # method -> an event its calls wait for before they are answered (see SlackEmulator.hold)
        self.holds: dict[str, threading.Event] = {}

    def handle(self, request: Request) -> Response:
        method = request.params["method"]
        try:
            params = _params(request)
        except BodyError:
            return _answer({"ok": False, "error": "invalid_form_data"})
        with self.ws.lock:
            self.calls.append(Call(method, params, time.monotonic()))
        if self.on_call is not None:
            self.on_call(method, params)
        if (delay := self.delays.pop(method)) is not None:
            time.sleep(delay)
        if (hold := self.holds.get(method)) is not None:
            hold.wait(timeout=30)
        if (fault := self.faults.pop(method)) is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
            return _answer({"ok": False, "error": fault.error}, fault.status, headers)
        token = request.bearer() or params.get("token")
        if not token:
            return _answer({"ok": False, "error": "not_authed"})
        if (refusal := self._refuse_token(method, token)) is not None:
            return _answer(refusal)
        if method == "apps.connections.open":
            return _answer({"ok": True, "url": self.socket_mode.open_url()})
        handler = METHODS.get(method)
        if handler is None or method in self.ws.missing_methods:
            return _answer({"ok": False, "error": "unknown_method", "req_method": method})
        if (refusal := self._refuse_scope(method)) is not None:
            return _answer(refusal)
        try:
            with self.ws.lock:
                result = handler(self.ws, params)
        except SlackError as error:
            result = {"ok": False, "error": error.error, **error.extra}
        if self.on_posted is not None and method == "chat.postMessage" and result["ok"]:
            self.on_posted(result["channel"], result["message"])
        return _answer(result)

    def _refuse_token(self, method: str, token: str) -> dict[str, Any] | None:
        # apps.connections.open takes only the app-level token, the manifest APIs only a
        # configuration token, every other method only the bot token; the wrong kind of
        # valid token is refused by type, not as invalid.
        kinds = {
            self.socket_mode.app_token: method == "apps.connections.open",
            self.config_token: method in CONFIG_METHODS,
            self.bot_token: method not in CONFIG_METHODS and method != "apps.connections.open",
        }
        if token not in kinds:
            return {"ok": False, "error": "invalid_auth"}
        if not kinds[token]:
            return {"ok": False, "error": "not_allowed_token_type"}
        return None

    def _refuse_scope(self, method: str) -> dict[str, Any] | None:
        needed, granted = SCOPES.get(method), self.ws.scopes
        if needed is None or granted is None or granted & set(needed):
            return None
        return {
            "ok": False,
            "error": "missing_scope",
            "needed": ",".join(needed),
            "provided": ",".join(sorted(granted)),
        }


def _params(request: Request) -> dict[str, Any]:
    """Merge query and body the way Slack reads them: form, JSON and multipart alike."""
    params: dict[str, Any] = dict(request.query)
    if not request.body:
        return params
    kind = request.content_type
    if kind == "application/json":
        body = request.json()
        if isinstance(body, dict):
            params.update(body)
    elif kind == "multipart/form-data":
        params.update(
            {name: part.text for name, part in request.multipart().items() if part.filename is None}
        )
    else:
        params.update(request.form())
    return params


def _answer(
    payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return json_response(payload, status, {"x-slack-req-id": random_id("", 32), **(headers or {})})
