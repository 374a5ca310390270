"""`tunebot sandbox`: the emulators with a ready workspace, for a `tunebot run` of your own."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import shlex
import signal
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from admin.providers.registry import Registry
from bot.config import DEFAULT_PROVIDER
from emulators.openai import OpenAIEmulator
from emulators.slack import SlackEmulator

CHANNEL, CHANNEL_NAME = "C0SANDBOX", "sandbox"
ADMIN, USER = "U0SBXADMIN", "U0SBXUSER"
DATABASE_URL = "sqlite:///tunebot-sandbox.db"
QUESTION = "when do we deploy on Fridays?"
# Slack refuses a request whose timestamp is more than five minutes from its clock.
SIGNATURE_WINDOW_S = 300
_TS = "@TS@"  # where the shell recipe puts the time it signs at


def serve(
    out: TextIO,
    *,
    port: int = 3000,
    events_url: str | None = None,
    slack_port: int = 3001,
    openai_port: int = 3002,
) -> int:
    """Run the emulators until SIGINT or SIGTERM; print how to point a bot at them.

    Fixed ports by default, so the printed variables stay right from one start to the next.
    """
    logging.basicConfig(level=logging.WARNING)
    slack, openai = SlackEmulator(), OpenAIEmulator()
    for server, at, option in (
        (slack, slack_port, "--slack-port"),
        (openai, openai_port, "--openai-port"),
    ):
        try:
            server.start(at)
        except OSError as error:
            slack.stop()
            raise SandboxError(
                f"cannot listen on 127.0.0.1:{at} ({option}): {error.strerror}"
            ) from None
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        mention = prepare(slack)
        # Events reach the bot from here on; the seeded mention is the curl example's to send.
        slack.events_url = events_url or f"http://127.0.0.1:{port}/slack/events"
        env = environment(
            slack,
            openai,
            database_url=DATABASE_URL,
            port=port,
            admins=[ADMIN],
            notify_channel=CHANNEL,
        )
        out.write(instructions(slack, env, mention))
        out.flush()
        stop.wait()
    finally:
        slack.stop()
        openai.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out.write("sandbox stopped\n")
    out.flush()
    return 0


def emulated_provider_env(
    emulator: OpenAIEmulator, names: tuple[str, ...], registry: Registry
) -> dict[str, str]:
    """Each named provider's key and URL variables, pointed at `emulator` (as its settings
    declare them)."""
    env: dict[str, str] = {}
    for name in names:
        settings = registry[name].Settings
        env |= {variable: emulator.api_key for variable in settings.secret_variables()}
        env |= {variable: emulator.base_url for variable in settings.url_variables()}
    return env


def environment(
    slack: SlackEmulator,
    openai: OpenAIEmulator,
    *,
    database_url: str,
    port: int,
    admins: Iterable[str] = (),
    notify_channel: str | None = None,
    serve_as: tuple[str, ...] = (DEFAULT_PROVIDER,),
    registry: Registry | None = None,
) -> dict[str, str]:
    """The variables that point `tunebot run` at the emulators, as `tunebot sandbox` prints
    them; the model provider's come from its plugin, as in `Sandbox.open`."""
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        **emulated_provider_env(openai, serve_as, registry or Registry.discover()),
        "DATABASE_URL": database_url,
        "PORT": str(port),
    }
    if admins:
        env["TUNEBOT_ADMINS"] = ",".join(admins)
    if notify_channel:
        env["TUNEBOT_NOTIFY_CHANNEL"] = notify_channel
    return env


class SandboxError(Exception):
    """The sandbox cannot start; the message says why, for the command line."""


def prepare(slack: SlackEmulator) -> dict[str, Any]:
    """A channel with the bot, an admin and a member, and the member's mention of the bot.

    The mention is stored as Slack would store it but not delivered: the curl example sends
    its `app_mention` event, so the bot's answer lands in a thread that exists.
    """
    slack.add_user("admin", user_id=ADMIN)
    slack.add_user("member", user_id=USER)
    slack.add_channel(CHANNEL_NAME, channel_id=CHANNEL)
    delivery = slack.post_as_user(USER, CHANNEL, f"<@{slack.bot_user_id}> {QUESTION}")
    envelopes = [slack.sender.envelopes[event_id] for event_id in delivery.event_ids]
    return next(e for e in envelopes if e["event"]["type"] == "app_mention")


# curl prints nothing for Slack's empty 200; the status line says the event was taken.
_STATUS = "-w 'HTTP %{http_code}\\n'"
# conversations.replies answers in JSON; a person wants the bot's words.
_ANSWER_TEXT = (
    "import json, sys; reply = json.load(sys.stdin); "
    'answers = [m["text"] for m in reply.get("messages", []) if m.get("bot_id")]; '
    'print("\\n".join(answers) or "no answer yet (" + reply.get("error", "no reply in the '
    'thread") + "): run this again in a moment"); sys.exit(0 if answers else 1)'
)


def signed_curl(url: str, secret: str, body: str, timestamp: int) -> str:
    """A curl command that posts `body` signed as Slack signs requests at `timestamp`."""
    signature = slack_signature(secret, str(timestamp), body.encode())
    return (
        f"curl -sS {_STATUS} -X POST {shlex.quote(url)} \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        f"  -H 'X-Slack-Request-Timestamp: {timestamp}' \\\n"
        f"  -H 'X-Slack-Signature: {signature}' \\\n"
        f"  --data-raw {shlex.quote(body)}\n"
    )


def read_answer(slack: SlackEmulator, ts: str) -> str:
    """A curl that reads the thread `ts` (a shell word) and prints the bot's answers in it."""
    url = f"{slack.api_url}conversations.replies?channel={CHANNEL}&ts={ts}"
    return (
        f"curl -sS -H 'Authorization: Bearer {slack.bot_token}' \"{url}\" \\\n"
        f"  | python3 -c {shlex.quote(_ANSWER_TEXT)}\n"
    )


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def resign_recipe(slack: SlackEmulator, url: str, mention: dict[str, Any]) -> str:
    """Shell lines (bash, openssl, curl, python3) that sign and send a new mention at the
    current time, then read the bot's answer to it."""
    event = dict(mention["event"])
    event |= {"ts": f"{_TS}.000100", "event_ts": f"{_TS}.000100"}
    event.pop("client_msg_id", None)
    template = dict(mention) | {"event": event, "event_id": f"Ev{_TS}", "event_time": 0}
    text = json.dumps(template, ensure_ascii=False, separators=(",", ":"))
    text = text.replace('"event_time":0', f'"event_time":{_TS}')
    body = '"$ts"'.join(shlex.quote(piece) for piece in text.split(_TS))
    secret = shlex.quote(slack.signing_secret)
    return (
        "ts=$(date +%s)\n"
        f"body={body}\n"
        f'sig="v0=$(printf \'v0:%s:%s\' "$ts" "$body" | openssl dgst -sha256 -hmac '
        f"{secret} -r | cut -d' ' -f1)\"\n"
        f"curl -sS {_STATUS} -X POST {shlex.quote(url)} -H 'Content-Type: application/json' "
        '-H "X-Slack-Request-Timestamp: $ts" -H "X-Slack-Signature: $sig" --data-raw "$body"\n'
        "sleep 3\n" + read_answer(slack, "$ts.000100")
    )


def instructions(slack: SlackEmulator, env: dict[str, str], mention: dict[str, Any]) -> str:
    url = slack.events_url or ""
    body = json.dumps(mention, ensure_ascii=False, separators=(",", ":"))
    now = int(time.time())
    until = datetime.fromtimestamp(now + SIGNATURE_WINDOW_S, UTC).strftime("%H:%M:%S UTC")
    exports = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
    return "\n".join(
        [
            "tunebot sandbox: emulated Slack and OpenAI APIs on 127.0.0.1 "
            "(no credentials, no network).",
            f"Workspace {slack.team_id}: #{CHANNEL_NAME} ({CHANNEL}) with @tunebot in it; "
            f"admin @admin ({ADMIN}), member @member ({USER}).",
            f"Slack sends events to {url}.",
            "",
            "# 1. In another shell, run the bot against the emulators:",
            exports + "tunebot run",
            "",
            f"# 2. Mention the bot as @member (signed like Slack; valid until {until}); "
            "it prints HTTP 200 when the bot takes the event:",
            signed_curl(url, slack.signing_secret, body, now),
            "# 3. Read the bot's answer in the thread:",
            read_answer(slack, mention["event"]["ts"]),
            "# Slack's signatures expire after 5 minutes; to sign and send a new mention and "
            "read its answer (bash, openssl, python3; run the last two lines again if the "
            "answer is still on its way):",
            resign_recipe(slack, url, mention),
            "# Ctrl-C stops the sandbox.",
            "",
        ]
    )
