"""Start-up checks for `tunebot run`: Slack accepts the bot and the database answers, or one
line says why not."""

from __future__ import annotations

import http.client
import logging
import re

from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine

from bot.config import Settings
from bot.deps import build_slack_client
from storage.db import DatabaseUnavailable, check_connection

_SILENT = logging.getLogger("tunebot.startup.slack")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False


class SlackUnavailable(Exception):
    """Slack's API did not accept the bot at start; the message says why, in one line."""


# What starting against Slack raises when Slack cannot be reached or refuses: Bolt's own
# error for a failed auth.test, the SDK's, and a failed request's socket error (DNS, a
# refused connection, a timeout), which the SDK lets through after its retries.
SLACK_FAILURES = (BoltError, SlackClientError, OSError, http.client.HTTPException)


def slack_failure(
    settings: Settings, error: BaseException, token: str = "SLACK_BOT_TOKEN"
) -> SlackUnavailable:
    """The one-line account of `error`, one of SLACK_FAILURES, naming the variable `token`
    (never its value)."""
    # Bolt raises BoltError while handling the SDK's SlackApiError, which says why.
    cause = error.__context__ if isinstance(error, BoltError) else error
    if isinstance(cause, SlackApiError):
        code = cause.response.get("error") or f"HTTP {cause.response.status_code}"
        return SlackUnavailable(f"Slack refused {token}: {code}")
    reason = getattr(cause, "strerror", None) or getattr(cause, "reason", None) or cause
    return SlackUnavailable(
        f"cannot reach Slack's API at {settings.slack_api_url} (SLACK_API_URL): {reason}"
    )


def check_slack(settings: Settings) -> None:
    """auth.test on a client of its own, closed after, so no connection outlives it.

    Its logger is silent: the SDK would log the failed request on a line of its own, and a
    start-up failure is the one line tunebot prints.
    """
    client = build_slack_client(settings, logger=_SILENT)
    try:
        client.auth_test()
    except SLACK_FAILURES as error:
        raise slack_failure(settings, error) from None
    finally:
        client.close()


def check_database(settings: Settings, engine: Engine) -> None:
    """One connection to DATABASE_URL, or DatabaseUnavailable naming the URL as it was typed
    (password masked), not as the engine rewrote it for its driver (`postgresql+psycopg://`)."""
    try:
        check_connection(engine)
    except DatabaseUnavailable as error:
        rewritten = engine.url.render_as_string(hide_password=True)
        typed = as_typed(settings.database_url)
        raise DatabaseUnavailable(str(error).replace(rewritten, typed)) from None


# Where SQLAlchemy's URL parser finds a password: after `user:` and up to the first `@`, or
# as a `password=` query parameter.
_PASSWORD = re.compile(r"^([\w+]+://[^:/]*:)[^@]*(@.*)$", re.DOTALL)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def as_typed(url: str) -> str:
    """`url` character for character, but for its password: `postgresql://u:***@host/db`."""
    return _QUERY_PASSWORD.sub(r"\1***", _PASSWORD.sub(r"\1***\2", url))


def is_startup_failure(error: BaseException) -> bool:
    """Whether `error` is one a person fixes in the configuration (shown without traceback)."""
    return isinstance(error, SlackUnavailable | DatabaseUnavailable)
