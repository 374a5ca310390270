"""HTTP front: POST /slack/events to Bolt, GET /healthz from the database, served by uvicorn."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy import Engine

from storage.db import ping

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Asgi = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

# Slack's largest requests (view submissions with their state) are well under this.
MAX_BODY_BYTES = 5 << 20


def build_asgi(app: App | None, engine: Engine) -> Asgi:
    """The whole HTTP surface; `app` is None in Socket Mode, where only /healthz is served."""

    async def asgi(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # uvicorn runs with lifespan off; nothing else is served
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy = await asyncio.to_thread(ping, engine)  # a stuck database must not stall Slack
            payload = {"ok": healthy, "database": "up" if healthy else "down"}
            await _send_json(send, 200 if healthy else 503, payload)
        elif app is not None and path == "/slack/events" and method == "POST":
            await _to_bolt(app, scope, receive, send)
        else:
            await _send_json(send, 404, {"ok": False, "error": "not_found"})

    return asgi


async def _to_bolt(app: App, scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Bolt's own ASGI adapter, except that requests which wait for a listener's ack() leave
    the event loop (that adapter dispatches every request on it)."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    body = await _read_body(receive, headers)
    if body is None:  # too large, or the client went away (then the answer goes nowhere)
        await _send_json(send, 413, {"ok": False, "error": "request_too_large"})
        return
    try:
        request = BoltRequest(
            # Undecodable bytes stay replaced, so the signature check refuses them (401).
            body=body.decode("utf-8", errors="replace"),
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
        )
    except ValueError:  # declared JSON that is not: never from Slack
        await _send_json(send, 400, {"ok": False, "error": "invalid_body"})
        return
    if headers.get("content-type", "").startswith("application/json"):
        # Events API: Bolt acknowledges an event before its listener runs (on the executor),
        # so dispatching here takes a fraction of a millisecond and saves a thread hand-off.
        response = app.dispatch(request)
    else:
        # Slash commands and interactivity: Bolt waits (up to Slack's 3 s) for the listener's
        # own ack(), which must not hold up every other request on this event loop.
        response = await asyncio.to_thread(app.dispatch, request)
    await _send_bolt(send, response)


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes | None:
    """The whole request body; None past MAX_BODY_BYTES or if the client disconnected."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            return None
        if not message.get("more_body", False):
            return bytes(body)


async def _send_bolt(send: Send, response: BoltResponse) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, values in response.headers.items()
        if name.lower() != "content-length"
        for value in values
    ]
    await _send(send, response.status, headers, response.body.encode("utf-8"))


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    await _send(
        send, status, [(b"content-type", b"application/json")], json.dumps(payload).encode()
    )


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HttpServer:
    """uvicorn on a background thread; port 0 picks a free port (tests, the demo).

    One event loop parses requests (httptools, in C) and acknowledges events; the answers
    run on the app's executor. It costs less CPU per event than a thread per request did,
    which is what a burst of mentions queues behind.
    """

    def __init__(self, asgi: Asgi, *, host: str, port: int, reuse_port: bool = False) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            # Several worker processes each listen on the same port; the kernel spreads
            # incoming connections across them.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((host, port))
        listener.listen(2048)  # bound and listening before start(): no refused first request
        self._socket = listener
        config = uvicorn.Config(
            asgi,
            http="httptools",
            loop="asyncio",
            lifespan="off",
            log_config=None,  # tunebot's own logging setup applies
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpServer:
        # Off the main thread, uvicorn leaves signal handling to its caller (tunebot run).
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="tunebot-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()
