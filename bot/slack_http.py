"""PooledWebClient: slack_sdk's WebClient with its HTTP connections kept open between calls.

The SDK's synchronous client sends each call through urllib, which opens a connection,
asks the server to close it, and drops it. Against slack.com that is a TCP and TLS
handshake for every call, three of them on the way to a streamed answer's first words.
This client keeps idle connections per host and reuses them; everything else (arguments,
retry handlers, errors, rate-limit headers) is the SDK's own.
"""

from __future__ import annotations

import http.client
import io
import select
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient

IDLE_PER_HOST = 8  # enough for a burst of answers; more are closed when returned


class PooledWebClient(WebClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool = ConnectionPool(ssl_context=self.ssl, timeout=self.timeout)

    def _perform_urllib_http_request_internal(
        self, url: str, req: urllib.request.Request
    ) -> dict[str, Any]:
        """Answer as the SDK's urllib path does: a dict of status, headers and body, or
        urllib's HTTPError for a status of 400 and above (the SDK's retry handlers read it)."""
        # The SDK's own path still serves proxies, which this pool does not speak.
        if self.proxy is not None or urlsplit(url).scheme not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        reply = self._pool.request(
            req.get_method(), url, body=req.data, headers=dict(req.header_items())
        )
        if reply.status >= 400:
            raise urllib.error.HTTPError(
                url, reply.status, reply.reason, reply.headers, io.BytesIO(reply.body)
            )
        if reply.headers.get_content_type() == "application/gzip":
            return {"status": reply.status, "headers": reply.headers, "body": reply.body}
        charset = reply.headers.get_content_charset() or "utf-8"
        return {
            "status": reply.status,
            "headers": reply.headers,
            "body": reply.body.decode(charset),
        }

    def close(self) -> None:
        self._pool.close()


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes


class ConnectionPool:
    """Idle HTTP/1.1 connections by (scheme, host, port), handed to one caller at a time."""

    def __init__(
        self, *, ssl_context: Any, timeout: float, idle_per_host: int = IDLE_PER_HOST
    ) -> None:
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._idle_per_host = idle_per_host
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def request(self, method: str, url: str, *, body: Any, headers: dict[str, str]) -> Reply:
        """Send one request over an idle connection (or a new one) and read the whole reply."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection = self._checkout(key)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._checkin(key, connection)
        return Reply(response.status, response.reason, response.headers, content)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _checkout(self, key: tuple[str, str]) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None:
                return self._open(key)
            if not _dropped(connection):
                return connection
            connection.close()  # the server closed it while it sat idle

    def _checkin(self, key: tuple[str, str], connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._idle_per_host:
                idle.append(connection)
                return
        connection.close()

    def _open(self, key: tuple[str, str]) -> http.client.HTTPConnection:
        scheme, netloc = key
        if scheme == "https":
            return http.client.HTTPSConnection(
                netloc, timeout=self._timeout, context=self._ssl_context
            )
        return http.client.HTTPConnection(netloc, timeout=self._timeout)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """An idle connection with something to read has been closed (or broken) by the server."""
    sock = connection.sock
    if sock is None:
        return True
    if hasattr(select, "poll"):  # select() refuses descriptors past 1024
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
