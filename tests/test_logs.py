"""Secrets never reach the logs: configured values and token-shaped strings are masked."""

from __future__ import annotations

import io
import logging

from bot.logs import RedactSecrets


def _log_through_filter(secrets: list[str | None], *messages: str) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(secrets))
    logger = logging.getLogger("tunebot.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for message in messages:
            logger.warning("calling with %s", message)
        try:
            raise RuntimeError(f"request failed: Authorization: Bearer {messages[0]}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_configured_secrets_are_masked_in_messages_and_tracebacks() -> None:
    secret = "my-signing-secret-123"
    out = _log_through_filter([secret, None], secret)
    assert secret not in out
    assert out.count("[redacted]") == 2 and "RuntimeError" in out


def test_token_shaped_strings_are_masked_even_when_not_configured() -> None:
    out = _log_through_filter([], "xoxb-1234-5678-abcdefgh", "sk-proj-abcdefghijklmnop")
    assert "xoxb-1234" not in out and "sk-proj-abc" not in out
