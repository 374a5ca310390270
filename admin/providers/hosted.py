"""Shared by the hosted-training providers (Together, Fireworks): error wording, names, checks."""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import Iterator
from typing import Any

from admin.providers.base import JobSnapshot, NotReady, ProviderError
from admin.providers.plugin import Phase

# Providers echo a masked key on 401; even masked, it stays out of Slack.
_KEYS = re.compile(r"\b(tgp_v1_|fw_|sk-)[\w*\-]{4,}|[\w\-]*\*{3,}[\w\-]*")
# What to try next, by HTTP status, after the provider's own words.
_NEXT = {
    400: "check the dataset and the options given to `/finetune train`",
    401: "an administrator should check the provider's API key",
    402: "add credits or a payment method in the provider's billing settings",
    403: "check that the account may use this feature and model",
    404: "check the model or job name",
    409: "it already exists; try again in a minute",
    429: "the account hit a rate limit or quota; try again later or raise the limit",
}


def quote_error(error: Exception, *, label: str, action: str) -> ProviderError:
    """`error` from a Stainless-generated SDK (together, fireworks) in the provider's words."""
    status = getattr(error, "status_code", None)
    message = _message(getattr(error, "body", None)) or _plain(error)
    name = type(error).__name__
    if name == "APITimeoutError":
        message = "the request timed out"
    elif name == "APIConnectionError":
        message = "could not connect"
    quoted = _KEYS.sub("[key hidden]", message).strip().rstrip(".")
    text = f"{label} could not {action}: {quoted}"
    code = _code(getattr(error, "body", None))
    where = ", ".join(p for p in (f"HTTP {status}" if status else None, code) if p)
    if where:
        text += f" ({where})"
    hint = _NEXT.get(status or 0) or ("try again in a few minutes" if (status or 0) >= 500 else "")
    if hint:
        text += f". Next: {hint}."
    return ProviderError(text, code=code, status=status)


@contextlib.contextmanager
def asking(errors: tuple[type[Exception], ...], *, label: str, action: str) -> Iterator[None]:
    """Turn the SDK's errors (and its local validation ValueErrors) into ProviderErrors."""
    try:
        yield
    except errors as error:
        raise quote_error(error, label=label, action=action) from error
    except ValueError as error:  # the SDKs validate some options locally, in plain words
        raise ProviderError(f"{label} could not {action}: {error}") from error


def _message(body: Any) -> str | None:
    if isinstance(body, str):
        return body or None
    if not isinstance(body, dict):
        return None
    inner = body.get("error", body)
    if isinstance(inner, str):
        return inner
    if isinstance(inner, dict):
        found = inner.get("message") or inner.get("detail")
        return str(found) if found else None
    return None


def _code(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    inner = body.get("error", body)
    code = inner.get("code") if isinstance(inner, dict) else None
    # gRPC-gateway bodies (Fireworks) carry a number; the HTTP status already says as much.
    return str(code) if isinstance(code, str) and code else None


def _plain(error: Exception) -> str:
    return str(getattr(error, "message", "") or error) or type(error).__name__


def deployment_name(job_id: str, *, prefix: str = "tunebot") -> str:
    """The same name for the same job on every tick, replica and restart: the idempotence key.

    Lower-case letters, digits and dashes, at most 40 characters (both providers accept that).
    """
    tail = re.sub(r"[^a-z0-9]", "", job_id.rsplit("/", 1)[-1].rsplit("-", 1)[-1].lower())
    tail = tail[-24:] or format(zlib.crc32(job_id.encode()), "08x")
    return f"{prefix}-{tail}"[:40]


def require_trained(job: JobSnapshot, label: str) -> None:
    if job.phase == Phase.ACTIVE:
        raise NotReady(f"Fine-tuning job {job.id} is still {job.status.replace('_', ' ')}.")
    if job.phase != Phase.SUCCEEDED:
        raise ProviderError(
            f"{label} job {job.id} {job.phase}; there is no model to deploy. "
            "Next: read the job's error with `/finetune status` and retrain."
        )
