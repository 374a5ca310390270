"""Sandbox: both emulators and the real bot wired to them over loopback HTTP (demo, tests)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from admin.providers.registry import Registry
from bot.config import Settings
from bot.runtime import Running, start
from emulators.openai import OpenAIEmulator
from emulators.sandbox_serve import emulated_provider_env
from emulators.slack import SlackEmulator
from storage.models import Turn


@dataclass
class Sandbox:
    slack: SlackEmulator
    openai: OpenAIEmulator
    settings: Settings
    bot: Running
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        *,
        database_url: str | None = None,
        socket_mode: bool = False,
        serve_as: tuple[str, ...] = ("openai",),
        **overrides: Any,
    ) -> Sandbox:
        """Start emulators and the bot; `overrides` are Settings fields (admins, base_model...).

        With `socket_mode` the bot connects to the Slack emulator's websocket with an app
        token, and events, commands and interactions reach it there instead of over HTTP.
        """
        # Its own folder for the database (unless one is given) and the dataset store, so a
        # sandbox never writes into the working directory.
        tmp = tempfile.TemporaryDirectory(prefix="tunebot-")
        if database_url is None:
            database_url = f"sqlite:///{Path(tmp.name) / 'tunebot.db'}"
        slack = SlackEmulator().start()
        openai = OpenAIEmulator().start()
        # The OpenAI emulator serves the providers named in `serve_as` (their key and URL
        # variables point at it); `provider_env` in overrides adds others.
        # The providers are discovered once and handed down, as `tunebot run` does.
        registry = overrides.pop("registry", None) or Registry.discover()
        provider_env = {
            **emulated_provider_env(openai, serve_as, registry),
            **overrides.pop("provider_env", {}),
        }
        settings = Settings(
            slack_bot_token=slack.bot_token,
            slack_signing_secret=slack.signing_secret,
            slack_api_url=slack.api_url,
            provider_env=provider_env,
            registry=registry,
            database_url=database_url,
            # Tests drive the poller one tick at a time; the demo turns the scheduler on.
            run_scheduler=False,
            slack_app_token=slack.app_token if socket_mode else None,
            data_dir=Path(tmp.name) / "data",
        ).with_overrides(**overrides)
        # Any free port (what PORT may not ask for: a health check must know where to look);
        # the settings then say where it listens.
        bot = start(settings.model_copy(update={"port": 0}), host="127.0.0.1")
        settings = settings.model_copy(update={"port": bot.http.port})
        if socket_mode:
            slack.socket_mode.wait_connected()
        else:
            slack.events_url = f"{bot.http.url}/slack/events"
        return cls(slack=slack, openai=openai, settings=settings, bot=bot, _tmp=tmp)

    def restart(self, **overrides: Any) -> None:
        """Stop the bot and start a new one on the same database and emulators, as a restarted
        process would (nothing kept in memory); `overrides` change its Settings."""
        self.bot.stop()
        self.settings = self.settings.with_overrides(**overrides)
        self.bot = start(self.settings.model_copy(update={"port": 0}), host="127.0.0.1")
        self.settings = self.settings.model_copy(update={"port": self.bot.http.port})
        if self.settings.socket_mode:
            self.slack.socket_mode.wait_connected()
        else:
            self.slack.events_url = f"{self.bot.http.url}/slack/events"

    @property
    def deps(self) -> Any:
        return self.bot.deps

    def wait_for_turn(self, channel: str, ts: str, *, timeout: float = 10.0) -> Turn:
        """The bot's record of answering the message at `ts` (written once the reply is done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.deps.session_factory() as session:
                turn = session.scalar(
                    select(Turn).where(Turn.channel_id == channel, Turn.message_ts == ts)
                )
            if turn is not None:
                return turn
            time.sleep(0.01)
        raise AssertionError(f"the bot did not answer {channel}:{ts} within {timeout} s")

    def replies_after(self, channel: str, thread_ts: str, ts: str) -> list[dict[str, Any]]:
        """The bot's messages in a thread posted after the message at `ts`."""
        return [
            m
            for m in self.slack.messages(channel, thread_ts)
            if m.get("bot_id") and float(m["ts"]) > float(ts)
        ]

    def select_option(self, user: str, channel: str, message: dict[str, Any], value: str) -> int:
        """Pick `value` in the first select menu of a bot message, as a person would."""
        section = next(b for b in message["blocks"] if b.get("accessory"))
        menu = section["accessory"]
        return self.slack.send_interaction(
            user,
            {
                "type": "block_actions",
                "user": {"id": user},
                "channel": {"id": channel},
                "message": message,
                "container": {
                    "type": "message",
                    "message_ts": message["ts"],
                    "channel_id": channel,
                },
                "actions": [
                    {
                        "type": menu["type"],
                        "action_id": menu["action_id"],
                        "block_id": section["block_id"],
                        "selected_option": {
                            "text": {"type": "plain_text", "text": value},
                            "value": value,
                        },
                    }
                ],
            },
        )

    def close(self) -> None:
        self.bot.stop()
        self.slack.stop()
        self.openai.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
