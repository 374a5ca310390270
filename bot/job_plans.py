"""A job's plan message in its admin's DM: posted once, then edited in place, version by version.

Every stage change queues a version of the plan in the outbox (admin.plans). Delivering one:

1. become the plan's only editor (storage.plan_repo.take); a sender that finds another
   editing it retries a moment later;
2. skip it if the message already shows that version or a newer one (a late, repeated or
   out-of-order update never rolls the plan back);
3. say which version is being sent, post the message if there is none yet, else chat.update
   it, and record what it shows.

A sender can die between the post (or edit) and the record. A post whose ts was never
recorded is found again in the DM by the message's metadata, so a restart edits that message
instead of posting a second one; and nothing older than an unrecorded edit is shown after it.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from admin.outbox import OutgoingMessage, RetryLater
from admin.plans import Plan
from bot.plan_views import build_plan_message
from storage import plan_repo
from storage.db import SessionFactory
from storage.models import JobPlan

log = logging.getLogger(__name__)

PLAN_EVENT = "tunebot_job_plan"
EDITOR_BUSY_RETRY = 2.0  # seconds: another sender is editing this plan right now
# Errors no retry will mend: the plan is left as it is (and said so in the log).
LOST = {"message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found"}


class PlanLedger:
    """What a sender records about a plan message, each step in its own transaction."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._sessions = session_factory

    def take(self, job_id: int, channel_id: str, outbox_id: int) -> JobPlan | None:
        with self._sessions.begin() as session:
            row = plan_repo.take(session, job_id=job_id, channel_id=channel_id, outbox_id=outbox_id)
            if row is not None:
                session.expunge(row)
            return row

    def sending(self, job_id: int, outbox_id: int, version: int) -> None:
        with self._sessions.begin() as session:
            plan_repo.sending(session, job_id=job_id, outbox_id=outbox_id, version=version)

    def record(self, job_id: int, outbox_id: int, version: int, ts: str | None = None) -> None:
        with self._sessions.begin() as session:
            plan_repo.record(session, job_id=job_id, outbox_id=outbox_id, version=version, ts=ts)

    def release(self, job_id: int, outbox_id: int) -> None:
        with self._sessions.begin() as session:
            plan_repo.release(session, job_id=job_id, outbox_id=outbox_id)


class PlanMessages:
    def __init__(self, client: WebClient, ledger: PlanLedger) -> None:
        self._client = client
        self._ledger = ledger

    def deliver(self, message: OutgoingMessage, channel: str) -> None:
        """Show `message`'s version of its plan in the DM `channel` (already opened)."""
        plan = Plan.from_payload(message.payload)
        row = self._ledger.take(plan.job_id, channel, message.id)
        if row is None:
            raise RetryLater("another sender is editing this plan message", EDITOR_BUSY_RETRY)
        try:
            self._show(plan, row, message.id)
        except SlackApiError as error:
            code = error.response.get("error")
            if code not in LOST:
                raise
            log.warning("%s: its plan message cannot be edited (%s)", plan.job, code)
        finally:
            self._ledger.release(plan.job_id, message.id)

    def _show(self, plan: Plan, row: JobPlan, outbox_id: int) -> None:
        ts, shown, unsure = row.ts, row.shown_version, row.sending_version
        if ts is None and unsure is not None:
            found = self._find_posted(row.channel_id, plan.job_id)
            if found is not None:
                ts, shown = found
                self._ledger.record(plan.job_id, outbox_id, shown, ts=ts)
                unsure = None
        # An unrecorded edit may show `unsure`: only it (again) or a newer version may follow.
        if plan.version <= shown or (unsure is not None and plan.version < unsure):
            log.info("%s: plan version %s is older than the one shown", plan.job, plan.version)
            return
        text, blocks = build_plan_message(plan)
        metadata = {
            "event_type": PLAN_EVENT,
            "event_payload": {"job_id": plan.job_id, "version": plan.version},
        }
        self._ledger.sending(plan.job_id, outbox_id, plan.version)
        if ts is None:
            posted = self._client.chat_postMessage(
                channel=row.channel_id, text=text, blocks=blocks, metadata=metadata
            )
            self._ledger.record(plan.job_id, outbox_id, plan.version, ts=str(posted["ts"]))
            return
        self._client.chat_update(
            channel=row.channel_id, ts=ts, text=text, blocks=blocks, metadata=metadata
        )
        self._ledger.record(plan.job_id, outbox_id, plan.version)

    def _find_posted(self, channel: str, job_id: int) -> tuple[str, int] | None:
        """(ts, version shown) of the plan message a crashed sender posted, if it is there."""
        history = self._client.conversations_history(
            channel=channel, limit=100, include_all_metadata=True
        )
        for item in history.get("messages") or []:
            metadata = item.get("metadata") or {}
            found = metadata.get("event_payload") or {}
            if metadata.get("event_type") == PLAN_EVENT and found.get("job_id") == job_id:
                return str(item["ts"]), int(found.get("version") or 0)
        return None
