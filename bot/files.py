"""Fetch a Slack file by id: only from its url_private, with the bot token, under a size cap."""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from admin.errors import TunebotError

CHUNK = 1024 * 1024


class FileRefused(TunebotError):
    """The file cannot be fetched or is not acceptable; the message says why."""


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    name: str
    size: int


def allowed_hosts(slack_api_url: str) -> set[str]:
    # Files live on files.slack.com for api at slack.com; an emulator serves both itself.
    host = urlsplit(slack_api_url).hostname or ""
    return {host, f"files.{host}"}


def fetch_file(
    client: WebClient, *, file_id: str, slack_api_url: str, max_bytes: int, workdir: Path
) -> FetchedFile:
    """Ask Slack for the file's metadata, then download it from the URL Slack gave."""
    try:
        info = client.files_info(file=file_id)["file"]
    except SlackApiError as error:
        raise FileRefused(
            f"Slack would not describe that file ({error.response.get('error')})."
        ) from error
    name = str(info.get("name") or file_id)
    size = int(info.get("size") or 0)
    if size > max_bytes:
        raise FileRefused(
            f"`{name}` is {_mb(size)}; the limit is {_mb(max_bytes)} (TUNEBOT_MAX_DATASET_MB)."
        )
    url = str(info.get("url_private_download") or info.get("url_private") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or parts.hostname not in allowed_hosts(slack_api_url):
        raise FileRefused(f"Slack gave no download address for `{name}` that tunebot trusts.")
    # Slack percent-encodes the name in the URL; anything left unencoded (a space, Korean)
    # would make the HTTP client refuse it, so it is encoded here, and `%` kept as it is.
    url = quote(url, safe=":/?#[]@!$&'()*+,;=%~")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {client.token}"})
    # The original extension travels with the bytes: format detection takes it as a hint.
    handle, temp = tempfile.mkstemp(prefix="upload-", suffix=Path(name).suffix[:16], dir=workdir)
    os.close(handle)
    target = Path(temp)
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=60) as response, target.open("wb") as out:
            if "text/html" in (response.headers.get("Content-Type") or ""):
                # Slack answers a bad token with its sign-in page, not with an error status.
                raise FileRefused(
                    "Slack returned a sign-in page instead of the file: the bot token "
                    "needs the files:read scope."
                )
            while chunk := response.read(CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise FileRefused(f"`{name}` is larger than the limit of {_mb(max_bytes)}.")
                out.write(chunk)
    except (urllib.error.URLError, OSError) as error:
        target.unlink(missing_ok=True)
        raise FileRefused(f"Downloading `{name}` from Slack failed ({error}).") from error
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return FetchedFile(path=target, name=name, size=received)


@contextmanager
def fetched_file(
    client: WebClient, *, file_id: str, slack_api_url: str, max_mb: int
) -> Iterator[FetchedFile]:
    """fetch_file into a temporary directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tunebot-upload-") as tmp:
        yield fetch_file(
            client,
            file_id=file_id,
            slack_api_url=slack_api_url,
            max_bytes=max_mb * 1024 * 1024,
            workdir=Path(tmp),
        )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
