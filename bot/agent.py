"""Slack's agent surfaces around an answer: the thread's working status and a DM's title.

While the model works, the thread shows "tunebot is thinking..." with loading messages that
Slack rotates (assistant.threads.setStatus, allowed in channels as in DMs); a DM thread gets
a title from its first question (assistant.threads.setTitle). Neither is on the reply's
path: a timer thread and a small pool of their own send them, the status only when no words
have gone out after STATUS_AFTER seconds, the title once the answer is over. Slack clears a
status when the app replies; one that reached Slack after the reply began is cleared with
an empty status, as the method's reference documents.

A workspace or token without a method (missing_scope, unknown_method, ...) loses that
surface, never the answer: the first refusal of each method is logged once per process, and
the method is left alone for an hour before it is tried again.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.streaming import ReplyWriter

log = logging.getLogger(__name__)

SET_STATUS = "assistant.threads.setStatus"
SET_TITLE = "assistant.threads.setTitle"
SET_PROMPTS = "assistant.threads.setSuggestedPrompts"
STATUS = "is thinking..."  # Slack shows it after the app's name
LOADING_MESSAGES = (
    "Reading the conversation…",
    "Asking your team's model…",
    "Choosing the words…",
)
TITLE_CHARS = 60
# A reply whose first words come sooner needs no status (and saves Slack the calls).
STATUS_AFTER = 0.3
# Refusals meaning "this workspace or token does not have it", not "this call was wrong".
UNAVAILABLE = {
    "access_denied",
    "feature_not_enabled",
    "method_deprecated",
    "missing_scope",
    "no_permission",
    "not_allowed",
    "not_allowed_token_type",
    "not_authorized",
    "team_access_not_granted",
    "unknown_method",
}
RETRY_SECONDS = 3600.0
LOST = {
    SET_STATUS: "threads show no working status",
    SET_TITLE: "DM threads get no title",
    SET_PROMPTS: "the DM offers no suggested prompts",
}


class Asked(Protocol):
    """What a question tells the agent surfaces (bot.chat.Question has it)."""

    @property
    def channel(self) -> str: ...
    @property
    def thread_ts(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def is_dm(self) -> bool: ...
    @property
    def is_thread_reply(self) -> bool: ...


class AgentSurfaces:
    """The calls behind Slack's agent surfaces, each dropped quietly where Slack lacks it."""

    def __init__(
        self, slack: WebClient, *, workers: int = 4, status_after: float = STATUS_AFTER
    ) -> None:
        self._slack = slack
        # Its own pool: a slow status call must not hold a thread the listeners need.
        self.workers = workers
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tunebot-agent")
        self.status_after = status_after
        self._timer = _Timer()
        self._lock = threading.Lock()
        self._unavailable_until: dict[str, float] = {}
        self._reported: set[str] = set()

    def call(self, method: str, **arguments: Any) -> bool:
        """Call an assistant.threads.* method; False where it failed or Slack lacks it."""
        with self._lock:
            if time.monotonic() < self._unavailable_until.get(method, 0.0):
                return False
        try:
            self._slack.api_call(method, json=arguments)
        except SlackApiError as error:
            self._refused(method, str(error.response.get("error") or "unknown"))
            return False
        except Exception as error:  # the network: a surface is not worth an answer's error
            log.warning("%s failed: %s", method, type(error).__name__)
            return False
        return True

    def _refused(self, method: str, code: str) -> None:
        if code not in UNAVAILABLE:
            log.warning("Slack refused %s: %s", method, code)
            return
        with self._lock:
            self._unavailable_until[method] = time.monotonic() + RETRY_SECONDS
            first = method not in self._reported
            self._reported.add(method)
        if first:
            log.warning(
                "%s is not available to this app (%s), so %s; answers go on without it. "
                "Reinstalling the app from slack-manifest.yaml grants what it needs.",
                method,
                code,
                LOST.get(method, "its surface is off"),
            )

    def working(self, question: Asked, reply: ReplyWriter) -> Working:
        """Show that the answer to `question` is being prepared; call done() once it is over."""
        new_dm_thread = question.is_dm and not question.is_thread_reply
        title = thread_title(question.text) if new_dm_thread else ""
        working = Working(self, question.channel, question.thread_ts, title, reply)
        self._timer.at(time.monotonic() + self.status_after, working.due)
        return working

    def close(self) -> None:
        self._timer.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


class Working:
    """One answer's status (and its DM thread's title), set and cleared off the reply's path.

    The status goes out only if no words have by `status_after`: a quick answer needs none,
    and saves the calls. The title goes out once the answer is over.
    """

    def __init__(
        self, surfaces: AgentSurfaces, channel: str, thread_ts: str, title: str, reply: ReplyWriter
    ) -> None:
        self._surfaces, self._reply = surfaces, reply
        self._where = {"channel_id": channel, "thread_ts": thread_ts}
        self._title = title
        # Guards the flags only, never held across a call to Slack.
        self._lock = threading.Lock()
        self._calling = False
        self._shown_at: float | None = None
        self._over = False

    def due(self) -> None:
        # On the timer's thread: a cheap look, and the pool only when there is work.
        if not self._over and self._reply.first_text_at is None:
            self._surfaces.executor.submit(self._show)

    def _show(self) -> None:
        with self._lock:
            if self._over or self._reply.first_text_at is not None:
                return  # the reply is on its way: a status would be pointless
            self._calling = True
        shown = self._surfaces.call(
            SET_STATUS, **self._where, status=STATUS, loading_messages=[*LOADING_MESSAGES]
        )
        with self._lock:
            self._calling = False
            self._shown_at = time.monotonic() if shown else None
            clear = self._over and self._outlives_reply()
        if clear:
            self._surfaces.call(SET_STATUS, **self._where, status="")

    def _outlives_reply(self) -> bool:
        # Slack clears a status when the reply comes: only one it got afterwards remains.
        replied = self._reply.first_text_at
        return self._shown_at is not None and (replied is None or self._shown_at > replied)

    def done(self) -> None:
        """The answer is over (given, or apologised for): no status may outlive it."""
        with self._lock:
            self._over = True
            # A status call still out is cleared by _show when it returns.
            clear = not self._calling and self._outlives_reply()
        if clear or self._title:
            self._surfaces.executor.submit(self._finish, clear)

    def _finish(self, clear: bool) -> None:
        if clear:
            self._surfaces.call(SET_STATUS, **self._where, status="")
        if self._title:
            self._surfaces.call(SET_TITLE, **self._where, title=self._title)


class _Timer:
    """One thread that runs short callbacks when their time comes: no thread per answer."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._count = itertools.count()
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tunebot-agent-timer", daemon=True)
        self._thread.start()

    def at(self, when: float, callback: Callable[[], None]) -> None:
        with self._changed:
            heapq.heappush(self._due, (when, next(self._count), callback))
            if self._due[0][2] is callback:  # sooner than what the thread sleeps for
                self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._closed and (not self._due or self._due[0][0] > time.monotonic()):
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    self._changed.wait(wait)
                if self._closed:
                    return
                _, _, callback = heapq.heappop(self._due)
            try:
                callback()
            except Exception:
                log.exception("an agent surface callback failed")

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()


def thread_title(text: str) -> str:
    """A DM thread's title from its first question: mentions out, one line, at most 60 chars."""
    words = re.sub(r"<[@#!][^>]*>", " ", text).split()
    title = " ".join(words)
    if len(title) <= TITLE_CHARS:
        return title
    cut = title[: TITLE_CHARS - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
