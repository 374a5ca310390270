from __future__ import annotations

import http.client
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from slack_bolt import Ack

from emulators.sandbox import Sandbox


def _mention(box: Sandbox) -> str:
    return f"<@{box.slack.bot_user_id}>"


def test_events_are_acknowledged_while_a_command_waits_for_its_ack(sandbox: Sandbox) -> None:
    # Bolt holds a slash command's request until its listener calls ack(). The mention's
    # events must still be acknowledged meanwhile: the command acks only once they were,
    # so a server that waited on it would leave them unanswered until Slack gave up.
    entered, released = threading.Event(), threading.Event()

    @sandbox.bot.app.command("/slow")
    def slow(ack: Ack) -> None:
        entered.set()
        released.wait(timeout=10)
        ack("done at last")

    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    command: dict[str, Any] = {}
    sender = threading.Thread(
        target=lambda: command.update(
            reply=sandbox.slack.send_slash_command(user, channel, "/slow", "")
        )
    )
    sender.start()
    assert entered.wait(timeout=10)

    asked = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} still there?")
    released.set()
    sender.join(timeout=10)

    assert asked.statuses == [200, 200]  # the message and its app_mention twin
    assert sandbox.wait_for_turn(channel, asked.ts).outcome == "answered"
    assert command["reply"][0] == 200 and "done at last" in command["reply"][1]


def test_an_oversized_request_is_refused_and_the_bot_keeps_serving(sandbox: Sandbox) -> None:
    url = urlsplit(sandbox.slack.events_url or "")
    connection = http.client.HTTPConnection(url.netloc, timeout=10)
    connection.putrequest("POST", url.path)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(64 << 20))
    connection.endheaders(b"{}")
    assert connection.getresponse().status == 413
    connection.close()

    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    asked = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} hello")
    assert sandbox.wait_for_turn(channel, asked.ts).outcome == "answered"


def test_a_body_that_is_not_utf8_is_refused_as_unsigned(sandbox: Sandbox) -> None:
    body = b'{"type": "event_callback", "event": {"text": "\xff\xfe"}}'
    timestamp = str(int(time.time()))
    url = urlsplit(sandbox.slack.events_url or "")
    connection = http.client.HTTPConnection(url.netloc, timeout=10)
    connection.request(
        "POST",
        url.path,
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sandbox.slack.sender.signature(timestamp, body),
        },
    )
    assert connection.getresponse().status == 401
    connection.close()


def test_a_body_declared_json_that_is_not_gets_a_400_and_the_bot_keeps_answering(
    sandbox: Sandbox,
) -> None:
    url = urlsplit(sandbox.slack.events_url or "")
    connection = http.client.HTTPConnection(url.netloc, timeout=10)
    connection.request(
        "POST", url.path, body=b"token=abc&not=json", headers={"Content-Type": "application/json"}
    )
    assert connection.getresponse().status == 400
    connection.close()

    user = sandbox.slack.add_user("minji")
    channel = sandbox.slack.add_channel("general")
    asked = sandbox.slack.post_as_user(user, channel, f"{_mention(sandbox)} hello")
    assert sandbox.wait_for_turn(channel, asked.ts).outcome == "answered"
