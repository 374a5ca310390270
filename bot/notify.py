"""SlackNotifier: outbox messages into Slack, resumable step by step, never posted twice; a
job's plan edited in place (bot.job_plans); a Home tab published again (bot.home)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from admin.announce import Kind
from admin.charts import render_loss_chart
from admin.outbox import OutgoingMessage, RetryLater
from admin.providers.base import MetricPoint
from bot.job_plans import PlanMessages

log = logging.getLogger(__name__)

EVENT_TYPE = "tunebot_notice"


class SlackNotifier:
    def __init__(
        self, client: WebClient, *, plans: PlanMessages, home: Callable[[str], None]
    ) -> None:
        """`home(user)` publishes that user's Home tab as it is now."""
        self._client = client
        self._plans = plans
        self._home = home

    def deliver(self, message: OutgoingMessage, save: Callable[[dict[str, Any]], None]) -> None:
        payload = dict(message.payload)
        try:
            if message.kind == Kind.HOME_REFRESH:
                self._home(message.channel)
                return
            channel = payload.get("channel_id") or self._resolve(message.channel)
            if "channel_id" not in payload:
                payload["channel_id"] = channel
                save(payload)
            if message.kind == Kind.JOB_PLAN:
                self._plans.deliver(message, channel)
                return
            if not payload.get("ts"):
                # A sender that crashed after Slack took the message left no ts behind:
                # the message's metadata says whether it is already there.
                found = self._find_posted(channel, message.id) if message.attempts > 1 else None
                payload["ts"] = found or self._post(channel, message)
                save(payload)
            chart = payload.get("chart")
            if chart and not payload.get("chart_done"):
                self._upload_chart(channel, payload["ts"], chart)
                payload["chart_done"] = True
                save(payload)
        except SlackApiError as error:
            code = error.response.get("error")
            after = error.response.headers.get("Retry-After") if error.response.headers else None
            raise RetryLater(f"Slack said {code}", float(after) if after else None) from error

    def _resolve(self, channel: str) -> str:
        if channel.startswith(("U", "W")):  # a person: their DM with the bot
            return str(self._client.conversations_open(users=channel)["channel"]["id"])
        return channel

    def _post(self, channel: str, message: OutgoingMessage) -> str:
        response = self._client.chat_postMessage(
            channel=channel,
            text=message.payload["text"],  # the notification's words when blocks are shown
            blocks=message.payload.get("blocks"),
            metadata={"event_type": EVENT_TYPE, "event_payload": {"outbox_id": message.id}},
            unfurl_links=False,
        )
        return str(response["ts"])

    def _find_posted(self, channel: str, outbox_id: int) -> str | None:
        history = self._client.conversations_history(
            channel=channel, limit=100, include_all_metadata=True
        )
        for item in history.get("messages") or []:
            metadata = item.get("metadata") or {}
            if (
                metadata.get("event_type") == EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("outbox_id") == outbox_id
            ):
                return str(item["ts"])
        return None

    def _upload_chart(self, channel: str, thread_ts: str, chart: dict[str, Any]) -> None:
        points = [MetricPoint(int(s), float(t), v) for s, t, v in chart["points"]]
        png = render_loss_chart(points, title=chart["title"])
        self._client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            content=png,
            filename=chart["filename"],
            title=chart["title"],
        )
