"""Loopback HTTP server under both emulators: a threaded listener, a route table, dispatch."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from emulators._wire import Request, Response, json_response, parse_query

log = logging.getLogger("emulators")

# Bigger than any body the emulated APIs accept, small enough to refuse runaway clients.
MAX_BODY_BYTES = 1 << 30


Handler = Callable[[Request], Response]


class Router:
    """Method + path-pattern table; `{name}` matches one segment, `{name:path}` the rest."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append((method.upper(), re.compile(regex), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        for route_method, regex, handler in self._routes:
            found = regex.fullmatch(path)
            if found and route_method in (method, "*"):
                # Matched on the raw path so an encoded "/" inside an id stays inside it.
                return handler, {k: unquote(v) for k, v in found.groupdict().items()}
        return None


class LoopbackServer:
    """Owns the listening socket on 127.0.0.1 and dispatches requests to the routes."""

    def __init__(self) -> None:
        self.router = Router()
        self._httpd: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        # Every request's method and path, in arrival order: what a test counts calls with.
        self.requests: list[tuple[str, str]] = []

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._httpd.server_address[1])

    @property
    def connections(self) -> int:
        """TCP connections accepted so far: how well clients reuse theirs."""
        return self._httpd.accepted if self._httpd is not None else 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> Self:
        """Listen on 127.0.0.1:`port` (0: any free port, what tests use)."""
        if self._httpd is not None:
            return self
        httpd = _ThreadingServer(("127.0.0.1", port), _Handler)
        httpd.app = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def drop_connections(self) -> None:
        """Close every open client connection, as a server that times out idle ones does."""
        if self._httpd is not None:
            self._httpd.close_connections()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path))
        found = self.router.match(request.method, request.path)
        if found is None:
            return self.not_found(request)
        handler, request.params = found
        try:
            return handler(request)
        except Exception:
            log.exception("emulator route %s %s failed", request.method, request.path)
            return self.internal_error(request)

    def not_found(self, request: Request) -> Response:
        return json_response({"error": f"no route for {request.method} {request.path}"}, 404)

    def internal_error(self, request: Request) -> Response:
        return json_response({"error": "emulator internal error"}, 500)


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops SYNs under a burst of clients that open a
    # connection per call (urllib), which then wait a full second to retry.
    request_queue_size = 128
    app: LoopbackServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.accepted = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
            self.accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping a keep-alive or half-read stream is routine, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s went away", client_address)
            return
        log.exception("emulator connection from %s failed", client_address)

    def close_connections(self) -> None:
        # Idle keep-alive connections would otherwise hold their threads until the client leaves.
        with self._open_lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    disable_nagle_algorithm = True  # small replies must not wait for delayed ACKs
    timeout = 120
    server: _ThreadingServer
    server_version = "emulator"
    sys_version = ""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):  # called for every request: format only when shown
            log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._write(json_response({"error": str(exc)}, 413))
            return
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_query(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        self._write(self.server.app.handle(request))

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            pieces = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                pieces.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(pieces)
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError(f"request body of {length} bytes is too large")
        return self.rfile.read(length) if length else b""

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if isinstance(response.body, bytes):
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in response.body:
                if piece:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test, an aborted stream): nothing left to answer.
            self.close_connection = True
