"""Slack workspace held by the emulator: users, conversations, messages, in Slack shapes."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

Params = dict[str, Any]


class SlackError(Exception):
    """An `{"ok": false, "error": ...}` answer; `extra` keys are merged into it."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def required(params: Params, key: str) -> Any:
    value = params.get(key)
    if value in (None, ""):
        raise SlackError(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] missing required field: {key}"]},
        )
    return value


def json_param(params: Params, key: str) -> Any:
    """Blocks, chunks and views arrive as JSON strings in forms and as values in JSON bodies."""
    value = params.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value) if value else None
        except ValueError as exc:
            raise SlackError(
                f"invalid_{key}_format" if key == "blocks" else "invalid_arguments"
            ) from exc
    return value


@dataclass
class AssistantThread:
    """What the app set on one thread with assistant.threads.* (see emulators.slack_assistant).

    Keyed by (channel, thread_ts); an agent app's prompts on a whole DM use thread_ts None.
    """

    status: str = ""
    loading_messages: list[str] = field(default_factory=list)
    status_set_at: float = 0.0
    # Every status set, in order, each with how it ended: "reply", "empty status" or
    # "timeout" (None while it shows).
    statuses: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    prompts: list[dict[str, str]] = field(default_factory=list)
    prompts_title: str | None = None


@dataclass
class Conversation:
    id: str
    name: str
    is_im: bool
    created: int
    user: str | None = None  # the other member of a DM
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> message, oldest first


class Workspace:
    """All state of one emulated workspace; callers hold `lock` around reads and writes."""

    def __init__(self, *, team_id: str, bot_user_id: str, bot_id: str, app_id: str) -> None:
        self.lock = threading.RLock()
        self.team_id, self.bot_user_id = team_id, bot_user_id
        self.bot_id, self.app_id = bot_id, app_id
        self.team_name = "Emulator Workspace"
        self.domain = "emulator"
        self.origin = ""  # set once the server listens; file URLs point at it
        self.stream_limit = 12000
        self.users: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, Conversation] = {}
        self.streaming: set[tuple[str, str]] = set()
        # The app as installed: its bot scopes (None: every scope, so methods are not
        # checked), Web API methods this workspace does not offer, and which AI messaging
        # experience its manifest chose ("agent" for agent_view, "assistant" for assistant_view).
        self.scopes: frozenset[str] | None = None
        self.missing_methods: set[str] = set()
        self.experience = "agent"
        self.assistant_threads: dict[tuple[str, str | None], AssistantThread] = {}
        # What tests inspect besides messages: see the SlackEmulator properties of the same names.
        self.ephemeral: list[dict[str, Any]] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.file_data: dict[str, bytes] = {}
        # file id -> the ticket files.getUploadURLExternal issued, until the upload completes
        self.pending_uploads: dict[str, dict[str, Any]] = {}
        # trigger_id -> monotonic time issued, None once a view used it
        self.triggers: dict[str, float | None] = {}
        self.uploads: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.responses: list[dict[str, Any]] = []
        self.file_fetches: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []  # each message as chat.update left it, in order
        # The app as its manifest configured it (emulators.slack_home.install); until one is
        # installed it has a Home tab and gets every event.
        self.home_tab_enabled = True
        self.bot_events: frozenset[str] | None = None
        self._counters: dict[str, int] = {}
        self._last_micros = 0
        self.add_user("tunebot", user_id=bot_user_id, is_bot=True)

    def next_id(self, prefix: str, tag: str = "") -> str:
        count = self._counters[prefix] = self._counters.get(prefix, 0) + 1
        return f"{prefix}{count:04d}{re.sub(r'[^A-Z0-9]', '', tag.upper())[:6]}"

    def next_ts(self) -> str:
        # Wall-clock based like Slack's, but strictly increasing even within one microsecond.
        with self.lock:
            micros = max(int(time.time() * 1_000_000), self._last_micros + 1)
            self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def add_user(
        self, name: str, *, user_id: str | None = None, is_bot: bool = False, tz: str = "Asia/Seoul"
    ) -> str:
        with self.lock:
            user_id = user_id or self.next_id("U", name)
            offset = datetime.now(ZoneInfo(tz)).utcoffset()
            real_name = name.replace(".", " ").title()
            profile: dict[str, Any] = {
                "display_name": name,
                "display_name_normalized": name,
                "real_name": real_name,
                "real_name_normalized": real_name,
                "team": self.team_id,
            }
            if user_id == self.bot_user_id:
                profile["bot_id"] = self.bot_id
            self.users[user_id] = {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "deleted": False,
                "real_name": real_name,
                "tz": tz,
                "tz_label": datetime.now(ZoneInfo(tz)).tzname(),
                "tz_offset": int(offset.total_seconds()) if offset else 0,
                "is_admin": False,
                "is_owner": False,
                "is_bot": is_bot,
                "is_app_user": False,
                "updated": int(time.time()),
                "profile": profile,
            }
            return user_id

    def add_channel(self, name: str, *, channel_id: str | None = None) -> str:
        with self.lock:
            channel_id = channel_id or self.next_id("C", name)
            self.conversations[channel_id] = Conversation(
                channel_id, name.lstrip("#"), False, int(time.time())
            )
            return channel_id

    def open_dm(self, user_id: str) -> tuple[str, bool]:
        """The DM channel with `user_id`, and whether it already existed."""
        with self.lock:
            if user_id not in self.users:
                raise SlackError("user_not_found")
            for conv in self.conversations.values():
                if conv.is_im and conv.user == user_id:
                    return conv.id, True
            dm_id = self.next_id("D", self.users[user_id]["name"])
            self.conversations[dm_id] = Conversation(
                dm_id, dm_id, True, int(time.time()), user=user_id
            )
            return dm_id, False

    def conversation(self, ref: str) -> Conversation:
        """Resolve a channel id, a `#name` or a user id (meaning the DM with that user)."""
        with self.lock:
            if ref in self.conversations:
                return self.conversations[ref]
            if ref in self.users:
                return self.conversations[self.open_dm(ref)[0]]
            for conv in self.conversations.values():
                if not conv.is_im and conv.name == ref.lstrip("#"):
                    return conv
            raise SlackError("channel_not_found")

    def bot_message(
        self, text: str, *, thread_ts: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
        }
        message |= {"app_id": self.app_id, "text": text, "ts": self.next_ts(), "team": self.team_id}
        if thread_ts:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = self._parent_user(thread_ts)
        return message | {k: v for k, v in extra.items() if v is not None}

    def user_message(
        self, user_id: str, text: str, *, thread_ts: str | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": user_id,
            "text": text,
            "ts": self.next_ts(),
        }
        message["team"] = self.team_id
        if thread_ts:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = self._parent_user(thread_ts)
        return message

    def add_message(self, conv: Conversation, message: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            conv.messages[message["ts"]] = message
        return message

    def find_message(self, conv: Conversation, ts: str) -> dict[str, Any]:
        with self.lock:
            if ts not in conv.messages:
                raise SlackError("message_not_found")
            return conv.messages[ts]

    def thread(self, conv: Conversation, ts: str) -> list[dict[str, Any]]:
        """Parent then replies, oldest first, as conversations.replies shows them."""
        with self.lock:
            found = conv.messages.get(ts)
            root = found.get("thread_ts", ts) if found else ts
            replies = [
                m for m in conv.messages.values() if m.get("thread_ts") == root and m["ts"] != root
            ]
            if root not in conv.messages and not replies:
                raise SlackError("thread_not_found")
            parent = [self._decorated(conv, conv.messages[root])] if root in conv.messages else []
            return parent + copy.deepcopy(replies)

    def history(self, conv: Conversation) -> list[dict[str, Any]]:
        """Top-level messages (replies excluded), oldest first."""
        with self.lock:
            top = [m for m in conv.messages.values() if m.get("thread_ts", m["ts"]) == m["ts"]]
            return [self._decorated(conv, m) for m in top]

    def replies_of(self, conv: Conversation, ts: str) -> list[dict[str, Any]]:
        return [m for m in conv.messages.values() if m.get("thread_ts") == ts and m["ts"] != ts]

    def _decorated(self, conv: Conversation, message: dict[str, Any]) -> dict[str, Any]:
        # Slack adds the thread summary to a parent on read; storing it would let it go stale.
        result = copy.deepcopy(message)
        replies = self.replies_of(conv, message["ts"])
        if replies:
            users = list(dict.fromkeys(r["user"] for r in replies if "user" in r))
            result |= {
                "thread_ts": message["ts"],
                "reply_count": len(replies),
                "reply_users": users,
            }
            result |= {"reply_users_count": len(users), "latest_reply": replies[-1]["ts"]}
        return result

    def _parent_user(self, thread_ts: str) -> str | None:
        for conv in self.conversations.values():
            if thread_ts in conv.messages:
                return conv.messages[thread_ts].get("user")
        return None
