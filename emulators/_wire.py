"""HTTP messages as the emulators see them: requests, responses, and decoding of every body kind."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class Part:
    """One field of a multipart/form-data body; `filename` is set for file fields."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class BodyError(ValueError):
    """The body does not parse as the Content-Type it claims to be."""


def parse_query(raw: str) -> dict[str, str]:
    # Slack and OpenAI never repeat a key, so the last value wins, as in most servers.
    return dict(parse_qsl(raw, keep_blank_values=True))


def parse_form(body: bytes) -> dict[str, str]:
    try:
        return parse_query(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BodyError("form body is not UTF-8") from exc


def parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(f"invalid JSON body: {exc}") from exc


def header_param(value: str, param: str, header: str = "content-type") -> str | None:
    """A parameter of a structured header (boundary, name, filename), quotes and all handled."""
    message = Message()
    message[header] = value
    found = message.get_param(param, header=header)
    if found is None:
        return None
    if isinstance(found, tuple):  # RFC 2231 encoded: (charset, language, value)
        return str(found[2])
    return str(found)


def parse_multipart(body: bytes, content_type: str) -> dict[str, Part]:
    """Split a multipart/form-data body into its named parts.

    Written against RFC 7578 rather than `cgi` (deprecated) or `email` (which would decode
    the whole body as a MIME message and mangle binary payloads).
    """
    boundary = header_param(content_type, "boundary")
    if not boundary:
        raise BodyError("multipart body without a boundary")
    # Every delimiter is preceded by CRLF except possibly the first, so prefix one.
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    parts: dict[str, Part] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise BodyError("multipart part without a header block")
        headers = _part_headers(head)
        disposition = headers.get("content-disposition", "")
        name = header_param(disposition, "name", "content-disposition")
        if name is None:
            continue
        filename = header_param(disposition, "filename", "content-disposition")
        parts[name] = Part(name, data, filename, headers.get("content-type"))
    return parts


def _part_headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", errors="replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return headers


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def bearer(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def json(self) -> Any:
        return parse_json(self.body)

    def form(self) -> dict[str, str]:
        return parse_form(self.body)

    def multipart(self) -> dict[str, Part]:
        return parse_multipart(self.body, self.headers.get("content-type", ""))


@dataclass
class Response:
    status: int = 200
    # An iterable body is streamed with chunked transfer encoding (server-sent events).
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return Response(status, json.dumps(payload).encode("utf-8"), merged)
