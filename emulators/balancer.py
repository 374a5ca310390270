"""A TCP load balancer on 127.0.0.1 in front of several emulated servers: what a Kubernetes
Service (kube-proxy, a layer-4 balancer) does for a Deployment's pods.

Each new connection goes to the next replica in turn, and every request on that connection
to the same replica, so a client sees one replica per connection, as it would in a cluster.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Iterator
from typing import Self


@contextlib.contextmanager
def balancing(upstreams: list[str]) -> Iterator[Balancer]:
    """A started balancer in front of `upstreams`, stopped on leaving."""
    balancer = Balancer(upstreams).start()
    try:
        yield balancer
    finally:
        balancer.stop()


class Balancer:
    def __init__(self, upstreams: list[str]) -> None:
        """`upstreams`: each replica's origin, `http://127.0.0.1:PORT`."""
        if not upstreams:
            raise ValueError("a balancer needs at least one replica")
        self._upstreams = [_address(origin) for origin in upstreams]
        self._next = itertools.cycle(range(len(upstreams)))
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        # The replica each accepted connection went to, in order: what a test looks at.
        self.routed: list[int] = []

    @property
    def origin(self) -> str:
        if self._listener is None:
            raise RuntimeError("the balancer is not started")
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> Self:
        listener = socket.create_server(("127.0.0.1", 0))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            with self._lock:
                replica = next(self._next)
                self.routed.append(replica)
            try:
                upstream = socket.create_connection(self._upstreams[replica])
            except OSError:
                client.close()  # a replica that is down drops the connection, as a pod would
                continue
            with self._lock:
                self._open |= {client, upstream}
            pair = _Pair(self, client, upstream)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=pair.pump, args=(source, target), daemon=True).start()

    def _closed(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(socks)
        for sock in socks:
            sock.close()


class _Pair:
    """A client's connection and its replica's: closed once both directions have ended."""

    def __init__(self, balancer: Balancer, client: socket.socket, upstream: socket.socket) -> None:
        self._balancer = balancer
        self._socks = (client, upstream)
        self._running = 2
        self._lock = threading.Lock()

    def pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass  # either side went away
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self._balancer._closed(*self._socks)


def _address(origin: str) -> tuple[str, int]:
    host, port = origin.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return host, int(port)
