"""ReplyWriter: model text into Slack as it arrives, streamed, or posted and updated if refused."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

# Streaming may be off for a workspace or an app; these mean "use plain messages instead".
STREAM_REFUSED = {
    "unknown_method",
    "not_allowed",
    "not_allowed_token_type",
    "feature_not_enabled",
    "method_deprecated",
    "missing_scope",
    "invalid_arguments",
    "not_authorized",
    "team_access_not_granted",
}
FLUSH_CHARS = 200
FLUSH_SECONDS = 0.5
POSTED_MESSAGE_CHARS = 3500  # Slack truncates posted message text past about 4,000 chars


class ReplyWriter:
    """Feed it text with `write`, end with `finish`; no text is lost on the way.

    Slack's streaming messages are used first. If streaming is refused, the reply becomes a
    posted message that is updated as text arrives. If a stream expires
    (`message_not_in_streaming_state`) the message is completed with chat.update; if it
    grows too long (`msg_too_long`) the rest continues in a new message of the thread.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        channel: str,
        thread_ts: str,
        recipient_user_id: str | None,
        recipient_team_id: str | None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._recipient = {"recipient_user_id": recipient_user_id}
        if recipient_team_id:
            self._recipient["recipient_team_id"] = recipient_team_id
        self._mode = "stream"
        self._stream: Any = None
        self._text = ""  # everything written
        self._segment_start = 0  # where the current Slack message's text begins
        self._sent = 0  # how much of _text Slack has confirmed
        self._posted_ts: str | None = None
        self._last_flush = 0.0
        self._final_blocks: list[dict[str, Any]] | None = None
        self.message_ts: list[str] = []
        # time.monotonic() just before the first words went to Slack (None until then)
        self.first_text_at: float | None = None

    @property
    def text(self) -> str:
        return self._text

    def write(self, delta: str) -> None:
        if not delta:
            return
        self._text += delta
        pending = len(self._text) - self._sent
        # The first words go out at once; after that, batch to stay under rate limits.
        waited = time.monotonic() - self._last_flush
        if self._sent == 0 or pending >= FLUSH_CHARS or waited >= FLUSH_SECONDS:
            self._flush()

    def finish(self, blocks: list[dict[str, Any]] | None = None) -> None:
        """Send what is left; `blocks` (such as feedback buttons) go under the last message."""
        self._final_blocks = blocks or None
        if self._mode == "stream":
            self._finish_stream()
        else:
            self._flush()
        if self._mode == "post" and self._final_blocks and self._posted_ts:
            self._attach_to_posted(self._final_blocks)

    def _flush(self) -> None:
        self._last_flush = time.monotonic()
        if self.first_text_at is None:
            self.first_text_at = self._last_flush
        if self._mode == "stream":
            self._append_stream()
        else:
            self._update_posted()

    def _append_stream(self) -> None:
        pending = self._text[self._sent :]
        if not pending:
            return
        try:
            if self._stream is None:
                self._stream = self._client.chat_stream(
                    channel=self._channel,
                    thread_ts=self._thread_ts,
                    buffer_size=1,  # this class decides when to send
                    **self._recipient,
                )
            self._stream.append(markdown_text=pending)
            self._note_ts(self._stream.ts)
            self._sent = len(self._text)
        except SlackApiError as error:
            self._recover(error)

    def _finish_stream(self) -> None:
        if self._stream is None and self._sent == len(self._text):
            return
        if self._stream is None:
            self._append_stream()
            if self._mode != "stream":
                self._flush()
                return
        pending = self._text[self._sent :]
        try:
            self._stream.stop(markdown_text=pending or None, blocks=self._final_blocks)
            self._sent = len(self._text)
        except SlackApiError as error:
            self._recover(error, stopping=True)

    def _recover(self, error: SlackApiError, *, stopping: bool = False) -> None:
        code = error.response.get("error", "")
        stream_ts = self._stream.ts if self._stream is not None else None
        if code == "invalid_blocks" and stopping and self._final_blocks:
            # The answer matters more than the buttons under it: stop without them.
            detail = error.response.get("response_metadata")
            log.warning("Slack refused the blocks under an answer: %s", detail)
            self._final_blocks = None
            self._finish_stream()
            return
        if code == "msg_too_long" and stream_ts:
            log.info("stream reached Slack's length limit; continuing in a new message")
            self._close_quietly(stream_ts)
            self._stream = None
            self._segment_start = self._sent
            if stopping:
                self._finish_stream()
            else:
                self._append_stream()
            return
        if code == "message_not_in_streaming_state" and stream_ts:
            log.info("stream expired on Slack's side; completing it with chat.update")
            self._stream = None
            self._mode = "post"
            self._posted_ts = stream_ts
            self._update_posted()
            return
        if code in STREAM_REFUSED and stream_ts is None:
            log.info("streaming refused (%s); posting and updating instead", code)
            self._stream = None
            self._mode = "post"
            self._update_posted()
            return
        raise error

    def _close_quietly(self, stream_ts: str) -> None:
        try:
            self._client.chat_stopStream(channel=self._channel, ts=stream_ts)
        except SlackApiError as error:
            log.info("closing a full stream failed: %s", error.response.get("error"))

    def _update_posted(self) -> None:
        while self._sent < len(self._text):
            segment = self._text[self._segment_start :]
            if len(segment) > POSTED_MESSAGE_CHARS:
                segment = segment[:POSTED_MESSAGE_CHARS]
            self._put(segment)
            end = self._segment_start + len(segment)
            self._sent = end
            if end < len(self._text):
                self._segment_start = end
                self._posted_ts = None

    def _put(self, text: str) -> None:
        if self._posted_ts is None:
            response = self._client.chat_postMessage(
                channel=self._channel, thread_ts=self._thread_ts, text=text
            )
            self._posted_ts = response["ts"]
            self._note_ts(self._posted_ts)
        else:
            self._client.chat_update(channel=self._channel, ts=self._posted_ts, text=text)

    def _attach_to_posted(self, blocks: list[dict[str, Any]]) -> None:
        # With blocks, Slack shows them instead of `text`: the text goes first, as markdown.
        segment = self._text[self._segment_start :]
        assert self._posted_ts is not None
        try:
            self._client.chat_update(
                channel=self._channel,
                ts=self._posted_ts,
                text=segment,
                blocks=[{"type": "markdown", "text": segment}, *blocks],
            )
        except SlackApiError as error:  # the text is there already; only the blocks are lost
            log.warning("could not add blocks under an answer: %s", error.response.get("error"))

    def _note_ts(self, ts: str | None) -> None:
        if ts and ts not in self.message_ts:
            self.message_ts.append(ts)
