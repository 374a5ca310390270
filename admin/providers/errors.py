"""SDK errors from any provider call -> ProviderError messages a Slack user can act on."""

from __future__ import annotations

import re

import openai

from admin.providers.base import ProviderError

# Codes a provider answers with when it stopped taking fine-tuning jobs from this account
# (OpenAI now refuses organisations without recent fine-tuning activity, and everyone
# after 2027-01-06); the user needs to hear that retrying will not help.
CLOSED_CODES = frozenset(
    {"fine_tuning_unavailable", "fine_tuning_disabled", "fine_tuning_not_available"}
)
_CLOSED_WORDS = re.compile(
    r"no longer (offer|accept|avail|support|create|start)"
    r"|not (offered|accepting|available) (to|for) (new|your|this)"
    r"|(disabled|unavailable) for (your|this)",
    re.IGNORECASE,
)
# Providers echo a masked key on 401 ("sk-emu****-key"); even masked, it stays out of Slack.
_KEYS = re.compile(r"\bsk-[\w*\-]{4,}|[\w\-]*\*{3,}[\w\-]*")


def provider_error(
    error: openai.APIError, *, action: str, label: str = "The provider"
) -> ProviderError:
    """Quote the provider's own message and code; never the request, the key or a traceback."""
    status = getattr(error, "status_code", None)
    message, code = _detail(error)
    if isinstance(error, openai.APITimeoutError):
        message = "the request timed out"
    elif isinstance(error, openai.APIConnectionError):
        message = "could not connect to the provider"
    quoted = _KEYS.sub("[key hidden]", message or error.__class__.__name__).strip()
    text = f"{label} could not {action}: {quoted}"
    where = ", ".join(part for part in (f"HTTP {status}" if status else None, code) if part)
    if where:
        text += f" ({where})"
    if is_fine_tuning_closed(code, message, status):
        text += (
            f". {label} no longer accepts new fine-tuning jobs for this account, so retrying "
            "will not help; an administrator can configure another fine-tuning backend "
            "with TUNEBOT_PROVIDER."
        )
    return ProviderError(text, code=code, status=status)


def is_fine_tuning_closed(code: str | None, message: str | None, status: int | None) -> bool:
    if code in CLOSED_CODES:
        return True
    # A model that cannot be fine-tuned is a 400 about that model, not a closed door.
    text = message or ""
    return status == 403 and "fine-tun" in text.lower() and bool(_CLOSED_WORDS.search(text))


def _detail(error: openai.APIError) -> tuple[str | None, str | None]:
    body = getattr(error, "body", None)
    if not isinstance(body, dict):
        return None, getattr(error, "code", None)
    inner = body.get("error", body)
    detail = inner if isinstance(inner, dict) else body
    message = detail.get("message") or detail.get("detail")
    if isinstance(message, list):  # FastAPI-style validation errors: [{"msg": ...}, ...]
        message = "; ".join(str(m.get("msg", m) if isinstance(m, dict) else m) for m in message)
    code = detail.get("code")
    return (str(message) if message else None), (str(code) if code else None)


def error_code(error: openai.APIError) -> str | None:
    return _detail(error)[1]
