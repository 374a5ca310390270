"""Slash commands, interactive payloads and their response_url, sent as Slack sends them."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from emulators._wire import BodyError, Request, Response
from emulators.slack_chat import remove
from emulators.slack_events import EventSender
from emulators.slack_state import Workspace
from emulators.slack_views import issue_trigger

RESPONSE_URL_USES = 5  # Slack accepts five posts per response_url


class Interactivity:
    def __init__(self, ws: Workspace, sender: EventSender) -> None:
        self.ws = ws
        self.sender = sender
        self.acks: list[dict[str, Any]] = []  # the bot's direct answers to commands and payloads
        self._targets: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        with self._lock:
            key = f"{len(self._targets) + 1:04d}"
            self._targets[key] = {
                "channel": channel,
                "user": user,
                "message_ts": message_ts,
                "uses": 0,
            }
        return f"{self.ws.origin}/response/{self.ws.team_id}/{key}"

    def slash_command(self, user_id: str, channel: str, command: str, text: str) -> tuple[int, str]:
        with self.ws.lock:
            conv = self.ws.conversation(channel)
            user = self.ws.users[user_id]
        form = {
            "token": self.sender.verification_token,
            "team_id": self.ws.team_id,
            "team_domain": self.ws.domain,
            "channel_id": conv.id,
            "channel_name": "directmessage" if conv.is_im else conv.name,
            "user_id": user_id,
            "user_name": user["name"],
            "command": command if command.startswith("/") else f"/{command}",
            "text": text,
            "api_app_id": self.ws.app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(conv.id, user_id),
            "trigger_id": issue_trigger(self.ws),
        }
        status, body = self.sender.send_request(
            "slash_commands", form, form, accepts_response_payload=True
        )
        self.acks.append(
            {"kind": "slash_command", "command": form["command"], "status": status, "body": body}
        )
        return status, body

    def interaction(self, user_id: str, payload: dict[str, Any]) -> int:
        body = self._complete(user_id, copy.deepcopy(payload))
        status, answer = self.sender.send_request(
            "interactive",
            body,
            {"payload": json.dumps(body)},
            # Only these payloads take an answer in the ack (errors, options).
            accepts_response_payload=body["type"] in ("view_submission", "block_suggestion"),
        )
        self.acks.append({"kind": body["type"], "status": status, "body": answer})
        return status

    def _complete(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Fill in what Slack always sends so tests only spell out what matters to them."""
        name = self.ws.users[user_id]["name"]
        body.setdefault("type", "block_actions")
        body.setdefault(
            "user", {"id": user_id, "username": name, "name": name, "team_id": self.ws.team_id}
        )
        body.setdefault("api_app_id", self.ws.app_id)
        body.setdefault("token", self.sender.verification_token)
        body.setdefault("team", {"id": self.ws.team_id, "domain": self.ws.domain})
        body.setdefault("enterprise", None)
        body.setdefault("is_enterprise_install", False)
        body.setdefault("trigger_id", issue_trigger(self.ws))
        if body["type"] == "view_submission":
            body.setdefault("response_urls", [])
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        if body["type"] == "block_actions" and channel:
            message_ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get(
                "message_ts"
            )
            body.setdefault("response_url", self._response_url(channel, user_id, message_ts))
        return body

    def receive_response(self, request: Request) -> Response:
        with self._lock:
            target = self._targets.get(request.params["key"])
            if target is None or target["uses"] >= RESPONSE_URL_USES:
                return Response(
                    404, b"used_url" if target else b"invalid_url", {"Content-Type": "text/plain"}
                )
            target["uses"] += 1
        try:
            message = request.json() if request.content_type == "application/json" else None
            if message is None and "payload" in (form := request.form()):
                message = json.loads(form["payload"])
        except (BodyError, ValueError):
            message = None
        if not isinstance(message, dict):
            return Response(400, b"invalid_payload", {"Content-Type": "text/plain"})
        self._apply(target, message)
        return Response(200, b"ok", {"Content-Type": "text/plain; charset=utf-8"})

    def _apply(self, target: dict[str, Any], message: dict[str, Any]) -> None:
        ws = self.ws
        with ws.lock:
            ws.responses.append(copy.deepcopy(message))
            conv = ws.conversation(target["channel"])
            original = target["message_ts"]
            if message.get("delete_original") and original in conv.messages:
                remove(ws, conv.id, original)
            elif message.get("replace_original") and original in conv.messages:
                for key in ("text", "blocks", "attachments"):
                    if key in message:
                        conv.messages[original][key] = message[key]
            elif message.get("response_type") == "in_channel":
                extra = {"blocks": message.get("blocks"), "attachments": message.get("attachments")}
                reply = ws.bot_message(
                    message.get("text") or "", thread_ts=message.get("thread_ts"), **extra
                )
                ws.add_message(conv, reply)
            else:
                record = {
                    "channel": conv.id,
                    "user": target["user"],
                    "text": message.get("text") or "",
                }
                record |= {"blocks": message.get("blocks"), "ts": ws.next_ts(), "thread_ts": None}
                ws.ephemeral.append(record | {"via": "response_url"})
