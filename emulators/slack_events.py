"""Events API side of the Slack emulator: envelopes, request signing, delivery, retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bot.slack_http import ConnectionPool
from emulators.slack_socket import SocketMode
from emulators.slack_state import Workspace

log = logging.getLogger("emulators")

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
# A message event's subscription by where it was posted (message.channels, message.im, ...).
_MESSAGE_EVENTS = {"channel": "channels", "group": "groups", "im": "im", "mpim": "mpim"}


def subscribed(ws: Workspace, event: dict[str, Any]) -> bool:
    """Whether the installed app gets `event` (every event until a manifest is installed,
    see emulators.slack_home.install)."""
    if ws.bot_events is None:
        return True
    kind = str(event.get("type"))
    if kind == "message":
        kind = f"message.{_MESSAGE_EVENTS.get(str(event.get('channel_type')), 'channels')}"
    return kind in ws.bot_events


@dataclass
class Delivery:
    """What a user action did: the message ts, the events sent and the bot's HTTP answers.

    A status of 0 means no answer: the bot refused the connection or took longer than
    Slack's 3 seconds, the case in which Slack itself would retry.
    """

    ts: str
    event_ids: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


class EventSender:
    """Signs and POSTs requests to the bot the way Slack does, and keeps envelopes for retries."""

    def __init__(
        self, ws: Workspace, signing_secret: str, events_url: str | None, socket_mode: SocketMode
    ) -> None:
        self.ws = ws
        self.socket_mode = socket_mode
        self.signing_secret = signing_secret
        self.events_url = events_url
        self.verification_token = "emulator-verification-token"
        self.timeout = 3.0  # Slack gives up on an event after 3 seconds
        self.envelopes: dict[str, dict[str, Any]] = {}
        # Called with each envelope just before it is sent (the latency bench's start line).
        self.on_deliver: Callable[[dict[str, Any]], None] | None = None
        self._lock = threading.Lock()
        # Connections to the bot stay open between events, as with any client that delivers
        # a stream of them; enough stay idle for every thread of a burst to find one.
        self._connections = ConnectionPool(ssl_context=None, timeout=self.timeout, idle_per_host=64)
        self._count = 0
        # Slack's event ids are unique across workspaces and time; two emulators (a test's
        # second sandbox on the same database) must not reuse one, or the bot rightly drops
        # the second as a retry of the first.
        self._id_prefix = secrets.token_hex(3).upper()

    @property
    def over_socket(self) -> bool:
        """An app in Socket Mode has no request URL: once it has connected, everything goes
        over its socket."""
        return self.events_url is None and self.socket_mode.connections_opened > 0

    def send_over_socket(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> tuple[int, str]:
        """(200, the ack's payload as JSON or "") once acknowledged; (0, "") if not in 3 s."""
        sent = self.socket_mode.send(
            kind,
            payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_num,
            retry_reason=retry_reason,
        )
        if sent is None or not sent.acked.is_set():
            return 0, ""
        return 200, json.dumps(sent.ack_payload) if sent.ack_payload is not None else ""

    def send_request(
        self,
        kind: str,
        payload: dict[str, Any],
        form: dict[str, str],
        *,
        accepts_response_payload: bool,
    ) -> tuple[int, str]:
        """A slash command or interactive payload: over the app's socket, or POSTed as `form`."""
        if self.over_socket:
            return self.send_over_socket(
                kind, payload, accepts_response_payload=accepts_response_payload
            )
        return self.post(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def signature(self, timestamp: str, body: bytes) -> str:
        base = f"v0:{timestamp}:".encode() + body
        return "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()

    def post(
        self, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        if not self.events_url:
            raise RuntimeError("events_url is not set: tell the emulator where the bot listens")
        timestamp = str(int(time.time()))
        signed = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": self.signature(timestamp, body),
            **(headers or {}),
        }
        try:
            reply = self._connections.request("POST", self.events_url, body=body, headers=signed)
        except (OSError, http.client.HTTPException) as error:
            log.warning("no answer from the bot at %s: %s", self.events_url, error)
            return 0, ""
        return reply.status, reply.body.decode("utf-8", errors="replace")

    def envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._count += 1
            event_id = f"Ev{self._id_prefix}{self._count:04d}"
        context = {"tid": self.ws.team_id, "aid": self.ws.app_id, "cid": event.get("channel")}
        event_context = "4-" + base64.urlsafe_b64encode(
            json.dumps(context).encode()
        ).decode().rstrip("=")
        return {
            "token": self.verification_token,
            "team_id": self.ws.team_id,
            "context_team_id": self.ws.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.ws.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(float(event.get("event_ts") or time.time())),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.ws.team_id,
                    "user_id": self.ws.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": event_context,
        }

    def deliver(
        self,
        envelope: dict[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> int:
        if event_id := envelope.get("event_id"):
            with self._lock:
                self.envelopes[event_id] = envelope
        if self.on_deliver is not None:
            self.on_deliver(envelope)
        if self.over_socket:
            status, _ = self.send_over_socket(
                "events_api",
                envelope,
                accepts_response_payload=False,
                retry_num=retry_num,
                retry_reason=retry_reason,
            )
            return status
        headers = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        status, _ = self.post(json.dumps(envelope).encode(), "application/json", headers)
        return status

    def redeliver(
        self, event_id: str, *, retry_num: int, retry_reason: str = "http_timeout"
    ) -> int:
        with self._lock:
            envelope = self.envelopes.get(event_id)
        if envelope is None:
            raise KeyError(f"no event {event_id} was delivered by this emulator")
        return self.deliver(envelope, retry_num=retry_num, retry_reason=retry_reason)

    def emit(self, ts: str, events: list[dict[str, Any]]) -> Delivery:
        """Deliver events in order, over HTTP or the app's socket; with neither they are only
        recorded."""
        delivery = Delivery(ts)
        for event in events:
            if not subscribed(self.ws, event):
                continue  # the app's manifest did not subscribe to it
            envelope = self.envelope(event)
            delivery.event_ids.append(envelope["event_id"])
            if self.events_url or self.over_socket:
                delivery.statuses.append(self.deliver(envelope))
            else:
                with self._lock:
                    self.envelopes[envelope["event_id"]] = envelope
        return delivery
