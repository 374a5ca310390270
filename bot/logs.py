"""Logging setup: text or JSON lines, every configured secret masked, Bolt's noisy lines tamed."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Literal, get_args

from bot.env import ConfigError

# Token shapes are masked even when they are not ours (a pasted token in an error).
_TOKEN_SHAPES = re.compile(
    r"\b(xox[abposr]-[A-Za-z0-9-]{8,}|xapp-[A-Za-z0-9-]{8,}|sk-[A-Za-z0-9_-]{12,})"
)

LogFormat = Literal["text", "json"]  # TUNEBOT_LOG_FORMAT
LOG_FORMATS = get_args(LogFormat)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return _TOKEN_SHAPES.sub("[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            formatter = logging.Formatter()
            message += "\n" + formatter.formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redact(message)
        record.args = None
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message.

    A traceback is part of the message (RedactSecrets folds it in, masked), so a record is
    always one line that a log collector parses without multi-line rules.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:  # a handler without RedactSecrets (not ours) still gets one line
            message += "\n" + self.formatException(record.exc_info)
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line = {
            "time": stamp.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        return json.dumps(line, ensure_ascii=False)


# Bolt's RequestVerification logs a refused request as this prefix followed by the raw
# signature, timestamp and the whole body (slack_bolt 1.x, RequestVerification._debug_log_error).
_REFUSED = "Invalid request signature detected"
_REFUSED_FIELDS = re.compile(r"\(signature: (.*?), timestamp: (.*?), body: ", re.DOTALL)
# Slack's own bound on a request's age (the SDK's SignatureVerifier refuses older ones).
_MAX_AGE_SECONDS = 60 * 5


class RefusedRequestSummary(logging.Filter):
    """Bolt's line for a badly signed request becomes a short summary, at most `per_minute`.

    Bolt logs the whole body at INFO: a 5 MB POST made one 5 MB line, and a real request
    with a stale timestamp put users' messages in the log. What is kept is enough to tell
    a misconfigured signing secret from a probe: the reason, the size and a hash prefix.
    Past `per_minute` lines, the rest of the minute is counted and reported with the next.
    """

    def __init__(
        self,
        per_minute: int = 10,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self._per_minute = per_minute
        self._clock = clock
        self._wall_clock = wall_clock
        self._window_start = float("-inf")
        self._in_window = 0
        self._held_back = 0
        self._lock = threading.Lock()  # requests are refused on the event loop and on threads

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(_REFUSED):
            return True
        with self._lock:
            now = self._clock()
            if now - self._window_start >= 60:
                self._window_start, self._in_window = now, 0
            if self._in_window >= self._per_minute:
                self._held_back += 1
                return False
            self._in_window += 1
            held_back, self._held_back = self._held_back, 0
        summary = self.summarise(message)
        if held_back:
            summary += f" ({held_back} more refused earlier, not logged)"
        record.msg, record.args = summary, None
        return True

    def summarise(self, message: str) -> str:
        fields = _REFUSED_FIELDS.search(message, len(_REFUSED))
        if fields is None:  # a format we do not know: describe all of it, show none of it
            reason, body = "invalid signature", message
        else:
            reason = self._reason(fields.group(1), fields.group(2))
            body = message[fields.end() : -1]  # up to Bolt's closing parenthesis
        data = body.encode("utf-8", errors="replace")
        digest = hashlib.sha256(data).hexdigest()[:12]
        return f"refused a Slack request: {reason}; body {len(data)} bytes, sha256 {digest}"

    def _reason(self, signature: str, timestamp: str) -> str:
        if not signature:
            return "no signature"
        try:
            sent = int(timestamp)
        except ValueError:
            return "unreadable timestamp"
        if sent == 0:  # Bolt's stand-in for a missing header
            return "no timestamp"
        age = int(self._wall_clock()) - sent
        if abs(age) > _MAX_AGE_SECONDS:
            return f"timestamp {age} s old" if age > 0 else f"timestamp {-age} s ahead"
        return "signature does not match (check SLACK_SIGNING_SECRET)"


class DropClientTokenWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given a client.

    The App is built with the client only, as Bolt documents for a custom client, but
    App.__init__ falls back to os.environ for the token and then warns that the token it
    found there will be unused. That token is the client's own; the warning says nothing.
    """

    def __init__(self, warning: str) -> None:
        super().__init__()
        self._warning = warning

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._warning


def bolt_logger() -> logging.Logger:
    """The base logger for Bolt apps (App(logger=...)): Bolt gives every logger it makes
    this one's level and filters, so the filters here see the lines of all of them."""
    # Imported here: the offline dataset commands load this module and need no Bolt.
    from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

    logger = logging.getLogger("slack_bolt")
    kinds = {type(f) for f in logger.filters}
    if RefusedRequestSummary not in kinds:
        logger.addFilter(RefusedRequestSummary())
    if DropClientTokenWarning not in kinds:
        logger.addFilter(DropClientTokenWarning(warning_client_prioritized_and_token_skipped()))
    return logger


def configure_logging(level: str, secrets: Iterable[str | None], fmt: str = "text") -> None:
    """Log to stderr in `fmt` (TUNEBOT_LOG_FORMAT: text or json), masking `secrets`."""
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"TUNEBOT_LOG_FORMAT must be text or json, got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Their DEBUG lines carry request bodies; INFO is as far as they go.
    for noisy in ("slack_sdk", "slack_bolt", "openai", "httpx", "httpx2", "httpcore", "uvicorn"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # APScheduler logs every run of every job at INFO: once a second with a short interval.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(level)))
