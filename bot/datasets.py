"""Datasets from Slack: files admins DM to the bot -> intake -> a report in the thread."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from admin.datasets.options import DatasetOptions
from admin.errors import TunebotError, new_reference
from admin.intake import IntakeOptions, IntakeResult, take_dataset
from admin.options import parse_options
from bot.admins import require_admin
from bot.dataset_views import build_result_text, build_speaker_picker
from bot.deps import Deps
from bot.files import fetched_file
from storage import repo

log = logging.getLogger(__name__)

PICK_ACTION = "dataset_pick_assistant"
PROGRESS_EVERY = 1.5  # seconds between progress edits, to stay far from Slack's rate limits


def register(app: App, deps: Deps) -> None:
    guard = require_admin(deps)

    @app.event({"type": "message", "subtype": "file_share"}, middleware=[guard])
    def receive_dataset(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        if event.get("bot_id") or event.get("user") == context.bot_user_id:
            return
        if event.get("channel_type") != "im":
            return  # files shared in channels are conversation, not datasets
        with deps.session_factory.begin() as session:
            fresh = repo.claim_message(
                session,
                event_id=body.get("event_id"),
                event_type="file_share",
                channel=event["channel"],
                ts=event["ts"],
            )
        if not fresh:
            return
        assert context.client is not None
        client, user, channel = context.client, event["user"], event["channel"]
        thread = event.get("thread_ts") or event["ts"]
        try:
            _, given = parse_options(event.get("text") or "", DatasetOptions)
        except TunebotError as error:
            client.chat_postMessage(channel=channel, thread_ts=thread, text=str(error))
            return
        options = intake_options(deps, given)
        for file in event.get("files") or []:
            take_file(
                deps,
                client,
                user=user,
                channel=channel,
                thread=thread,
                file_id=file["id"],
                options=options,
            )

    @app.action(PICK_ACTION, middleware=[guard])
    def pick_assistant(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        user = body["user"]["id"]
        action = body["actions"][0]
        file_id, pending = decode_pending(action["block_id"])
        given = pending.model_copy(update={"assistant": action["selected_option"]["value"]})
        channel = body["channel"]["id"]
        message = body.get("message") or {}
        thread = message.get("thread_ts") or message.get("ts")
        assert context.client is not None
        context.client.chat_update(
            channel=channel,
            ts=message["ts"],
            text=f"Using *{given.assistant}* as the voice of the bot.",
            blocks=[],
        )
        take_file(
            deps,
            context.client,
            user=user,
            channel=channel,
            thread=thread,
            file_id=file_id,
            options=intake_options(deps, given),
        )


def intake_options(deps: Deps, given: DatasetOptions) -> IntakeOptions:
    return IntakeOptions(
        model=given.model or deps.settings.base_model,
        epochs=given.epochs,
        fmt=given.format,
        assistant=given.assistant,
        system_prompt=given.system,
        silence_minutes=given.silence,
        validation_split=given.split or 0.0,
    )


def take_file(
    deps: Deps,
    client: WebClient,
    *,
    user: str,
    channel: str,
    thread: str | None,
    file_id: str,
    options: IntakeOptions,
) -> IntakeResult | None:
    """Fetch, check, store and upload one file, reporting progress and the outcome in Slack."""
    status = client.chat_postMessage(
        channel=channel, thread_ts=thread, text="Got it. Checking the file…"
    )
    progress = _Progress(client, channel, status["ts"])
    try:
        with fetched_file(
            client,
            file_id=file_id,
            slack_api_url=deps.settings.slack_api_url,
            max_mb=deps.settings.max_dataset_mb,
        ) as fetched:
            result = take_dataset(
                fetched.path,
                name=fetched.name,
                uploader=user,
                options=options,
                session_factory=deps.session_factory,
                provider=deps.providers.get(None),
                store=deps.store,
                stage=progress.update,
            )
    except TunebotError as error:
        client.chat_update(channel=channel, ts=status["ts"], text=str(error))
        return None
    except Exception:
        reference = new_reference()
        log.exception("dataset intake failed (ref %s)", reference)
        client.chat_update(
            channel=channel,
            ts=status["ts"],
            text=f"Sorry, something went wrong while checking that file. (ref `{reference}`)",
        )
        return None
    if result.speakers:
        block_id = encode_pending(file_id, options)
        text, blocks = build_speaker_picker(fetched.name, result.speakers, block_id, PICK_ACTION)
        client.chat_update(channel=channel, ts=status["ts"], text=text, blocks=blocks)
        return result
    client.chat_update(
        channel=channel, ts=status["ts"], text=build_result_text(fetched.name, result)
    )
    return result


def encode_pending(file_id: str, options: IntakeOptions) -> str:
    """The picker's block_id carries the file and options (Slack allows 255 characters)."""
    fields = {
        "model": options.model,
        "epochs": options.epochs,
        "format": options.fmt,
        "system": options.system_prompt,
        "silence": options.silence_minutes,
        "split": options.validation_split or None,
    }
    encoded = f"ds|{file_id}|" + urlencode({k: v for k, v in fields.items() if v})
    return encoded if len(encoded) <= 255 else encoded[:255].rsplit("&", 1)[0]


def decode_pending(block_id: str) -> tuple[str, DatasetOptions]:
    _, file_id, query = block_id.split("|", 2)
    return file_id, DatasetOptions.model_validate(dict(parse_qsl(query)))


class _Progress:
    """Edits the status message as validation and upload advance, at most every 1.5 s."""

    def __init__(self, client: WebClient, channel: str, ts: str) -> None:
        self._client, self._channel, self._ts = client, channel, ts
        self._last = time.monotonic()

    def update(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if total <= 0 or now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        percent = min(100, int(done * 100 / total))
        try:
            self._client.chat_update(
                channel=self._channel, ts=self._ts, text=f"{stage.capitalize()}… {percent}%"
            )
        except Exception:
            log.info("progress update skipped", exc_info=True)
