"""HTTP front: POST /slack/events to Bolt, GET /healthz from the database, served by waitress."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine
from waitress.server import create_server

from storage.db import ping

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


def build_wsgi(
    app: App | None, engine: Engine
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The whole HTTP surface; `app` is None in Socket Mode, where only /healthz is served."""
    slack = SlackRequestHandler(app, path="/slack/events") if app is not None else None

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            healthy = ping(engine)
            status = "200 OK" if healthy else "503 Service Unavailable"
            body = json.dumps({"ok": healthy, "database": "up" if healthy else "down"}).encode()
            start_response(
                status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if slack is not None and path == "/slack/events" and method == "POST":
            return slack(environ, start_response)
        body = b'{"ok": false, "error": "not_found"}'
        start_response(
            "404 Not Found",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return wsgi


class HttpServer:
    """waitress on a background thread; port 0 picks a free port (tests, the demo)."""

    def __init__(
        self,
        wsgi: Callable[..., Iterable[bytes]],
        *,
        host: str,
        port: int,
        reuse_port: bool = False,
    ) -> None:
        if reuse_port:
            # Several worker processes each listen on the same port; the kernel spreads
            # incoming connections across them.
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind((host, port))
            self._server: Any = create_server(wsgi, sockets=[listener], threads=8, ident="tunebot")
        else:
            self._server = create_server(wsgi, host=host, port=port, threads=8, ident="tunebot")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        # waitress's own run() cannot be stopped from another thread without closing sockets
        # under its select(); polling one round at a time lets this thread close them itself.
        while not self._stopping.is_set():
            self._server.asyncore.loop(timeout=0.2, map=self._server._map, count=1)
        self._server.task_dispatcher.shutdown()
        self._server.close()

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="tunebot-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
