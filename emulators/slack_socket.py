"""Socket Mode side of the Slack emulator: apps.connections.open tickets and the websocket.

An app with Socket Mode on gets no HTTP requests from Slack. It calls apps.connections.open
with its app-level token (xapp-...), connects to the single-use URL it gets back, receives
a `hello`, and then every event, slash command and interactive payload arrives as an
envelope that it must acknowledge by `envelope_id` within 3 seconds, or Slack retries
the event. Slack may ask a client to reconnect with a `disconnect` message, which the
SDK's clients answer by opening a new connection before closing the old one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from websockets.sync.server import Server, ServerConnection

log = logging.getLogger("emulators")

ACK_SECONDS = 3.0  # Slack's limit for acknowledging an envelope


@dataclass
class Envelope:
    """One envelope sent over a socket and the client's acknowledgement, once it comes."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    connection: int  # which connection (in order of opening) carried it
    acked: threading.Event = field(default_factory=threading.Event)
    ack_payload: dict[str, Any] | None = None


class SocketMode:
    def __init__(self, *, app_token: str, app_id: str) -> None:
        self.app_token = app_token
        self.app_id = app_id
        self.envelopes: list[Envelope] = []
        self.tickets_issued = 0
        self.connections_opened = 0
        self._tickets: set[str] = set()
        self._live: list[tuple[int, ServerConnection]] = []  # newest last
        self._sent: dict[str, Envelope] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for websockets; done on the first apps.connections.open, so the emulator
        runs without the `websockets` package (the demo) until an app asks for Socket Mode."""
        from websockets.sync.server import serve

        with self._lock:
            if self._server is not None:
                return
            self._server = serve(
                self._serve, "127.0.0.1", 0, compression=None, logger=logging.getLogger(log.name)
            )
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="slack-socket-mode", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Slack emulator is not started")
        return int(self._server.socket.getsockname()[1])

    # -- what the app does ---------------------------------------------------------------------

    def open_url(self) -> str:
        """apps.connections.open: a fresh single-use websocket URL."""
        self.start()
        ticket = str(uuid.uuid4())
        with self._lock:
            self._tickets.add(ticket)
            self.tickets_issued += 1
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    @property
    def connected(self) -> int:
        """Connections open now."""
        with self._lock:
            return len(self._live)

    def wait_connected(self, count: int = 1, *, timeout: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._live) >= count, timeout=timeout):
                raise AssertionError(f"no Socket Mode connection within {timeout} s")

    # -- what Slack does -----------------------------------------------------------------------

    def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> Envelope | None:
        """Send an envelope on the newest connection and wait up to 3 s for its ack.

        Returns the envelope (`acked` tells whether the ack came in time), or None when no
        connection was open within those 3 s.
        """
        envelope_id = str(uuid.uuid4())
        message: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            message["retry_attempt"] = retry_attempt or 0
            message["retry_reason"] = retry_reason or ""
        # A client between connections (a refresh) gets a moment to come back, as Slack
        # holds events for a reconnecting app rather than dropping them.
        with self._changed:
            if not self._changed.wait_for(lambda: bool(self._live), timeout=ACK_SECONDS):
                return None
            number, connection = self._live[-1]
            envelope = Envelope(envelope_id, kind, payload, number)
            self._sent[envelope_id] = envelope
            self.envelopes.append(envelope)
        try:
            # websockets serialises whole-message sends from several threads itself.
            connection.send(json.dumps(message))
        except _closed():
            log.info("socket %d closed before envelope %s went out", number, envelope_id)
        envelope.acked.wait(ACK_SECONDS)
        return envelope

    def request_refresh(self) -> None:
        """Ask every open connection to reconnect, as Slack does before recycling a host."""
        message = {
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "applink-emulator"},
        }
        with self._lock:
            connections = [connection for _, connection in self._live]
        for connection in connections:
            with contextlib.suppress(_closed()):
                connection.send(json.dumps(message))

    # -- the websocket -------------------------------------------------------------------------

    def _serve(self, connection: ServerConnection) -> None:
        url = urlsplit(connection.request.path if connection.request is not None else "")
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)  # a ticket opens one connection only
        if url.path != "/link/" or not known:
            connection.close(code=1008, reason="invalid or used ticket")
            return
        with self._changed:
            self.connections_opened += 1
            number = self.connections_opened
        hello = {
            "type": "hello",
            "num_connections": self.connected + 1,
            "debug_info": {
                "host": "applink-emulator",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        connection.send(json.dumps(hello))
        with self._changed:
            self._live.append((number, connection))
            self._changed.notify_all()
        try:
            for raw in connection:
                self._receive(number, raw)
        except _closed():
            pass
        finally:
            with self._changed:
                self._live = [(n, c) for n, c in self._live if n != number]
                self._changed.notify_all()

    def _receive(self, number: int, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("socket %d sent something that is not JSON: %r", number, raw[:200])
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._lock:
            # A late ack (after 3 s) still lands; the sender has already counted it as missed.
            envelope = self._sent.get(envelope_id or "")
        if envelope is None:
            log.warning("socket %d acknowledged an unknown envelope %r", number, envelope_id)
            return
        payload = message.get("payload")
        envelope.ack_payload = payload if isinstance(payload, dict) else None
        envelope.acked.set()


def _closed() -> type[Exception]:
    from websockets.exceptions import ConnectionClosed

    return ConnectionClosed
