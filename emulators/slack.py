"""Slack emulator: a loopback Web API, Events API sender and file host for the real SDKs."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from emulators import slack_actions as actions
from emulators import slack_clicks as clicks
from emulators import slack_files as files
from emulators import slack_home as home
from emulators._http import LoopbackServer
from emulators._support import wait_for
from emulators._wire import Request, Response
from emulators.slack_api import Call, Fault, WebApi
from emulators.slack_assistant import expire
from emulators.slack_events import Delivery, EventSender
from emulators.slack_interactivity import Interactivity
from emulators.slack_socket import SocketMode
from emulators.slack_state import AssistantThread, Workspace

T = TypeVar("T")

__all__ = ["Call", "Delivery", "SlackEmulator"]


class SlackEmulator(LoopbackServer):
    """One workspace with the bot installed; see the module docs of slack_* for each surface."""

    def __init__(
        self,
        *,
        signing_secret: str = "emulator-signing-secret",
        bot_token: str = "xoxb-emulator-token",
        app_token: str = "xapp-1-A0TUNEBOT-1-emulator-app-token",
        team_id: str = "T0EMULATOR",
        bot_user_id: str = "U0TUNEBOT",
        bot_id: str = "B0TUNEBOT",
        app_id: str = "A0TUNEBOT",
        config_token: str = "xoxe.xoxp-1-emulator-config-token",
        events_url: str | None = None,
        stream_limit: int = 12000,
        scopes: Iterable[str] | None = None,
        experience: str = "agent",
    ) -> None:
        """`scopes`: the bot scopes the app was installed with (None: all, unchecked);
        `experience`: "agent" (agent_view in the manifest) or "assistant" (assistant_view)."""
        super().__init__()
        self.signing_secret, self.bot_token = signing_secret, bot_token
        self.team_id, self.bot_user_id, self.bot_id, self.app_id = (
            team_id,
            bot_user_id,
            bot_id,
            app_id,
        )
        self.ws = Workspace(team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id, app_id=app_id)
        self.ws.stream_limit = stream_limit
        self.ws.scopes = frozenset(scopes) if scopes is not None else None
        if experience not in ("agent", "assistant"):
            raise ValueError(f"experience must be agent or assistant, not {experience!r}")
        self.ws.experience = experience
        self.config_token = config_token
        self.socket_mode = SocketMode(app_token=app_token, app_id=app_id)
        self.api = WebApi(self.ws, bot_token, self.socket_mode, config_token)
        self.sender = EventSender(self.ws, signing_secret, events_url, self.socket_mode)
        self.interactivity = Interactivity(self.ws, self.sender)
        self.router.add("*", "/api/{method}", self.api.handle)
        self.router.add("GET", "/files-pri/{ref:path}", self._serve_file)
        self.router.add("POST", "/upload/v1/{file_id}", lambda r: files.receive_upload(self.ws, r))
        self.router.add("POST", "/response/{team}/{key}", self.interactivity.receive_response)

    def start(self, port: int = 0) -> SlackEmulator:
        super().start(port)
        self.ws.origin = self.origin
        return self

    def stop(self) -> None:
        self.socket_mode.stop()
        super().stop()

    @property
    def app_token(self) -> str:
        """The app-level token (xapp-) an app uses to open Socket Mode connections."""
        return self.socket_mode.app_token

    def _serve_file(self, request: Request) -> Response:
        return files.serve_private(self.ws, request, self.bot_token)

    @property
    def api_url(self) -> str:
        return f"{self.origin}/api/"

    @property
    def events_url(self) -> str | None:
        return self.sender.events_url

    @events_url.setter
    def events_url(self, url: str | None) -> None:
        self.sender.events_url = url

    @property
    def on_call(self) -> Callable[[str, dict[str, Any]], None] | None:
        return self.api.on_call

    @on_call.setter
    def on_call(self, hook: Callable[[str, dict[str, Any]], None] | None) -> None:
        self.api.on_call = hook

    @property
    def echo_bot_messages(self) -> bool:
        """Off by default; on, chat.postMessage posts come back to the bot as events."""
        return self.api.on_posted is not None

    @echo_bot_messages.setter
    def echo_bot_messages(self, enabled: bool) -> None:
        self.api.on_posted = self._echo if enabled else None

    def _echo(self, channel: str, message: dict[str, Any]) -> None:
        actions.echo(self.ws, self.sender, channel, message)

    # -- directory ---------------------------------------------------------------------------

    def add_user(
        self, name: str, *, user_id: str | None = None, is_bot: bool = False, tz: str = "Asia/Seoul"
    ) -> str:
        return self.ws.add_user(name, user_id=user_id, is_bot=is_bot, tz=tz)

    def add_channel(self, name: str, *, channel_id: str | None = None) -> str:
        return self.ws.add_channel(name, channel_id=channel_id)

    def open_dm(self, user_id: str) -> str:
        return self.ws.open_dm(user_id)[0]

    def add_file(
        self,
        user_id: str,
        name: str,
        content: bytes,
        *,
        filetype: str | None = None,
        mimetype: str | None = None,
    ) -> dict[str, Any]:
        if not self._httpd:
            raise RuntimeError("start() the emulator before adding files: their URLs need its port")
        return files.add_file(self.ws, user_id, name, content, filetype=filetype, mimetype=mimetype)

    # -- what people do ----------------------------------------------------------------------

    def post_as_user(
        self,
        user_id: str,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        files: list[Any] | None = None,
    ) -> Delivery:
        return actions.post(
            self.ws, self.sender, user_id, channel, text, thread_ts=thread_ts, files=files
        )

    def edit_as_user(self, user_id: str, channel: str, ts: str, new_text: str) -> Delivery:
        return actions.edit(self.ws, self.sender, user_id, channel, ts, new_text)

    def delete_as_user(self, channel: str, ts: str) -> Delivery:
        return actions.delete(self.ws, self.sender, channel, ts)

    def open_app_home(self, user_id: str, tab: str = "messages") -> Delivery:
        """The user opens the app's Messages tab (its DM) or its Home tab: app_home_opened."""
        return home.open_app_home(self.ws, self.sender, user_id, tab)

    def click_home_button(self, user_id: str, action_id: str, value: str | None = None) -> int:
        """Click a button of the Home tab published for the user (the first `action_id`
        button, or the one with `value`)."""
        return self.send_interaction(user_id, home.button_click(self.ws, user_id, action_id, value))

    def deliver(
        self,
        envelope: dict[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> int:
        return self.sender.deliver(envelope, retry_num=retry_num, retry_reason=retry_reason)

    def redeliver(
        self, event_id: str, *, retry_num: int, retry_reason: str = "http_timeout"
    ) -> int:
        return self.sender.redeliver(event_id, retry_num=retry_num, retry_reason=retry_reason)

    def send_slash_command(
        self, user_id: str, channel: str, command: str, text: str
    ) -> tuple[int, str]:
        return self.interactivity.slash_command(user_id, channel, command, text)

    def send_interaction(self, user_id: str, payload: dict[str, Any]) -> int:
        return self.interactivity.interaction(user_id, payload)

    def click_feedback(self, user_id: str, channel: str, ts: str, *, positive: bool) -> int:
        """Click 👍 (positive) or 👎 in the feedback buttons of the bot message at `ts`."""
        payload = clicks.feedback_click(self.ws, user_id, channel, ts, positive=positive)
        return self.send_interaction(user_id, payload)

    def click_ephemeral_button(self, user_id: str, action_id: str) -> int:
        """Click a button in the latest ephemeral message the user was shown that has one."""
        return self.send_interaction(
            user_id, clicks.ephemeral_button_click(self.ws, user_id, action_id)
        )

    def install(self, manifest: dict[str, Any]) -> None:
        """Configure the app as `manifest` (slack-manifest.yaml, loaded) says: its Home tab and
        the events it subscribes to; ManifestError for keys Slack would refuse."""
        home.install(self.ws, manifest)

    # -- faults ------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        retry_after: int = 1,
        error: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with a failure.

        Without `error` (or with "ratelimited"): HTTP 429 + Retry-After; with another, Slack's
        usual HTTP 200 `{"ok": false, "error": error}`. An explicit `status` overrides either.
        """
        limited = error in (None, "ratelimited")
        chosen = status if status is not None else (429 if limited else 200)
        fallback = "ratelimited" if chosen == 429 else "fatal_error"
        self.api.faults.push(method, Fault(chosen, error or fallback, retry_after), times)

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        self.api.delays.push(method, seconds, times)

    def hold(self, method: str) -> threading.Event:
        """Keep every call of `method` waiting (30 s at most) until the returned event is set."""
        gate = self.api.holds[method] = threading.Event()
        return gate

    @property
    def scopes(self) -> frozenset[str] | None:
        """The bot scopes the app is installed with; None: every scope, methods unchecked."""
        return self.ws.scopes

    @scopes.setter
    def scopes(self, scopes: Iterable[str] | None) -> None:
        with self.ws.lock:
            self.ws.scopes = frozenset(scopes) if scopes is not None else None

    def remove_methods(self, *methods: str) -> None:
        """Act as a workspace without these Web API methods: calls get `unknown_method`."""
        with self.ws.lock:
            self.ws.missing_methods.update(methods)

    # -- inspection --------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self.ws.lock:
            return list(self.api.calls)

    def messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """A thread (parent then replies) or, without thread_ts, the top-level history; copies."""
        with self.ws.lock:
            conv = self.ws.conversation(channel)
            if thread_ts is None:
                return self.ws.history(conv)
            if thread_ts not in conv.messages and not self.ws.replies_of(conv, thread_ts):
                return []
            return self.ws.thread(conv, thread_ts)

    def _copy(self, value: T) -> T:
        with self.ws.lock:
            return copy.deepcopy(value)

    def assistant_thread(self, channel: str, thread_ts: str | None = None) -> AssistantThread:
        """What the app set with assistant.threads.* on a thread (thread_ts None: on an agent
        app's Messages tab of the DM `channel`); a copy, empty if nothing was set."""
        with self.ws.lock:
            conv = self.ws.conversation(channel)
            thread = self.ws.assistant_threads.get((conv.id, thread_ts))
            if thread is None:
                return AssistantThread()
            expire(thread)
            return copy.deepcopy(thread)

    @property
    def uploads(self) -> list[dict[str, Any]]:
        return self._copy(self.ws.uploads)

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        return self._copy(self.ws.views)

    @property
    def ephemeral(self) -> list[dict[str, Any]]:
        return self._copy(self.ws.ephemeral)

    @property
    def responses(self) -> list[dict[str, Any]]:
        return self._copy(self.ws.responses)

    @property
    def file_fetches(self) -> list[dict[str, Any]]:
        return self._copy(self.ws.file_fetches)

    @property
    def acks(self) -> list[dict[str, Any]]:
        return self._copy(self.interactivity.acks)

    def home_tab(self, user_id: str) -> dict[str, Any] | None:
        """The Home view last published for the user (a copy), or None."""
        with self.ws.lock:
            return copy.deepcopy(home.home_view(self.ws, user_id))

    def edits(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The message at channel:ts as each chat.update left it, oldest first (copies)."""
        with self.ws.lock:
            conv = self.ws.conversation(channel)
            return [
                copy.deepcopy(e) for e in self.ws.edits if (e["channel"], e["ts"]) == (conv.id, ts)
            ]

    def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        return wait_for(predicate, timeout, context=self._recent_calls)

    def _recent_calls(self) -> str:
        calls = self.calls[-8:]
        now = time.monotonic()
        lines = [f"  {c.method} {_brief(c.params)} ({now - c.at:.2f}s ago)" for c in calls]
        return "last Web API calls:\n" + ("\n".join(lines) if lines else "  (none)")


def _brief(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if k != "token"}
    text = repr(shown)
    return text if len(text) < 160 else text[:157] + "..."
