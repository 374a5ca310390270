"""Secrets never reach the logs: configured values and token-shaped strings are masked."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.config import ConfigError
from bot.logs import JsonLines, RedactSecrets, RefusedRequestSummary, configure_logging
from emulators.sandbox import Sandbox
from tests.service_helpers import run_briefly


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


def test_json_lines_are_one_object_per_line_with_secrets_still_masked() -> None:
    secret = "my-signing-secret-123"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    handler.addFilter(RedactSecrets([secret]))
    logger = logging.getLogger("tunebot.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("first line\nsecond line with %s", secret)
        try:
            raise RuntimeError(secret)
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    records = [json.loads(line) for line in lines]
    assert [set(r) for r in records] == [{"time", "level", "logger", "message"}] * 2
    assert records[0]["level"] == "WARNING" and records[0]["logger"] == "tunebot.test.json"
    assert records[0]["message"] == "first line\nsecond line with [redacted]"
    assert "RuntimeError: [redacted]" in records[1]["message"]
    assert records[0]["time"].endswith("Z")
    assert secret not in stream.getvalue()


def test_an_unknown_log_format_is_a_configuration_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="TUNEBOT_LOG_FORMAT"):
        configure_logging("INFO", [], fmt="xml")


def _bolt_line(signature: str, timestamp: str, body: str) -> logging.LogRecord:
    # The line as slack_bolt's RequestVerification writes it.
    message = (
        "Invalid request signature detected "
        f"(signature: {signature}, timestamp: {timestamp}, body: {body})"
    )
    return logging.LogRecord("slack_bolt.RequestVerification", 20, __file__, 1, message, None, None)


NOW = 1_790_000_000


@pytest.mark.parametrize(
    ("signature", "timestamp", "reason"),
    [
        ("", "0", "no signature"),
        ("v0=abc", "0", "no timestamp"),
        ("v0=abc", "yesterday", "unreadable timestamp"),
        ("v0=abc", str(NOW - 3600), "timestamp 3600 s old"),
        ("v0=abc", str(NOW + 900), "timestamp 900 s ahead"),
        ("v0=abc", str(NOW - 2), "signature does not match"),
    ],
)
def test_a_refused_request_is_logged_as_its_reason_size_and_hash(
    signature: str, timestamp: str, reason: str
) -> None:
    body = "token=x&text=" + "my private message, " * 1000
    record = _bolt_line(signature, timestamp, body)
    summary = RefusedRequestSummary(wall_clock=lambda: NOW)
    assert summary.filter(record)
    line = record.getMessage()
    digest = hashlib.sha256(body.encode()).hexdigest()[:12]
    assert line.startswith(f"refused a Slack request: {reason}")
    assert line.endswith(f"; body {len(body)} bytes, sha256 {digest}")
    assert "private" not in line and len(line) < 200


def test_refused_requests_past_the_rate_are_counted_into_the_next_minutes_line() -> None:
    now = [0.0]
    summary = RefusedRequestSummary(per_minute=3, clock=lambda: now[0], wall_clock=lambda: NOW)
    kept = [summary.filter(_bolt_line("", "0", "x")) for _ in range(10)]
    assert kept == [True] * 3 + [False] * 7
    now[0] = 60.0
    record = _bolt_line("", "0", "x")
    assert summary.filter(record)
    assert record.getMessage().endswith("(7 more refused earlier, not logged)")
    later = _bolt_line("", "0", "x")
    assert summary.filter(later) and "more refused" not in later.getMessage()


def test_other_lines_pass_through_untouched() -> None:
    record = logging.LogRecord("slack_bolt.App", 30, __file__, 1, "Unhandled %s", ("x",), None)
    assert RefusedRequestSummary().filter(record) and record.getMessage() == "Unhandled x"


def _post(sandbox: Sandbox, body: bytes, headers: dict[str, str]) -> int:
    url = urlsplit(sandbox.slack.events_url or "")
    connection = http.client.HTTPConnection(url.netloc, timeout=30)
    try:
        connection.request("POST", url.path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_bolt_logs_a_badly_signed_request_without_its_body(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # Through the real Bolt: the contract with its RequestVerification line is checked here.
    caplog.set_level(logging.INFO)
    stale = str(int(time.time()) - 3600)
    message = {"type": "event_callback", "event": {"type": "message", "text": "my salary is"}}
    body = json.dumps(message).encode()
    stale_headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stale,
        "X-Slack-Signature": sandbox.slack.sender.signature(stale, body),
    }
    big = b"text=" + b"a" * (4 << 20)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert _post(sandbox, body, stale_headers) == 401
    assert _post(sandbox, big, form) == 401
    assert "my salary" not in caplog.text and "aaaaaaaa" not in caplog.text
    refused = [
        r.getMessage() for r in caplog.records if "refused a Slack request" in r.getMessage()
    ]
    assert refused[0].startswith("refused a Slack request: timestamp 36")
    assert refused[1].startswith("refused a Slack request: no signature; body 4194309 bytes")
    assert max(len(r.getMessage()) for r in caplog.records) < 1000


def test_tunebot_run_starts_without_bolts_client_token_warning(tmp_path: Path) -> None:
    # SLACK_BOT_TOKEN is in the environment, where Bolt finds it next to the client it is given.
    returncode, stderr = run_briefly(tmp_path)
    assert returncode == 0, stderr
    assert "listening on" in stderr
    assert "will be unused" not in stderr and "WARNING" not in stderr


def test_tunebot_run_writes_json_lines_when_asked(tmp_path: Path) -> None:
    returncode, stderr = run_briefly(tmp_path, TUNEBOT_LOG_FORMAT="json")
    assert returncode == 0, stderr
    records = [json.loads(line) for line in stderr.splitlines()]
    assert any(r["message"].startswith("listening on") for r in records)
    assert all(set(r) == {"time", "level", "logger", "message"} for r in records)


def test_tunebot_run_refuses_an_unknown_log_format(tmp_path: Path) -> None:
    returncode, stderr = run_briefly(tmp_path, TUNEBOT_LOG_FORMAT="xml")
    assert returncode == 2
    assert stderr.strip().count("\n") == 0 and "TUNEBOT_LOG_FORMAT" in stderr
