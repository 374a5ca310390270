"""The errors a user may see: each message is written for the person reading it in Slack."""

from __future__ import annotations

import secrets


class TunebotError(Exception):
    """An error whose message is safe and useful to show to the user as it is."""


class ModelUnavailable(TunebotError):
    """The model asked for does not exist (any more) or this key cannot use it."""

    def __init__(self, model: str) -> None:
        super().__init__(f"The model `{model}` is not available to this bot.")
        self.model = model


class ProviderUnavailable(TunebotError):
    """The model provider failed after the SDK's retries: rate limit, timeout, 5xx."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The model service is unavailable right now ({reason}).")
        self.reason = reason


def new_reference() -> str:
    """A short id printed to the user and logged with the traceback, to find one in the other."""
    return secrets.token_hex(4)
