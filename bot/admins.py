"""Admin-only surfaces: every one goes through this Bolt listener middleware, and the audit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltContext, BoltResponse

from bot.deps import Deps
from bot.upload_views import build_working_view
from storage import job_repo, repo

log = logging.getLogger(__name__)

COMMAND_REFUSAL = "Only tunebot admins can run `/finetune`."
FILE_REFUSAL = (
    "Only tunebot admins can add datasets, so I did not open that file. "
    "Ask an admin to send it, or to add you to TUNEBOT_ADMINS."
)

Middleware = Callable[..., BoltResponse | None]


def audit(deps: Deps, user: str, action: str, detail: str, outcome: str) -> None:
    with deps.session_factory.begin() as session:
        job_repo.record_audit(session, user_id=user, action=action, detail=detail, outcome=outcome)


def require_admin(deps: Deps) -> Middleware:
    """Listener middleware: admins pass; anyone else is told so and nothing else happens.

    Attached to every admin listener (`middleware=[guard]`), so a new admin surface cannot
    forget the check the way an `if` copied into each handler can.
    """

    def require_admin(
        body: dict[str, Any], context: BoltContext, ack: Ack, next: Callable[[], None]
    ) -> BoltResponse | None:
        user = context.user_id
        if user is not None and user in deps.settings.admins:
            next()
            return None
        event = body.get("event")
        if isinstance(event, dict):
            return _refuse_file(deps, body, event, context)
        surface = _surface(body)
        audit(deps, user or "?", surface, _detail(body), "refused: not an admin")
        log.info("%s refused: %s is not an admin", surface, user)
        if body.get("command"):
            return ack(response_type="ephemeral", text=COMMAND_REFUSAL)
        if body.get("type") == "view_submission":
            return ack(
                response_action="update",
                view=build_working_view("Only tunebot admins can add datasets."),
            )
        return ack()

    return require_admin


def _refuse_file(
    deps: Deps, body: dict[str, Any], event: dict[str, Any], context: BoltContext
) -> BoltResponse | None:
    if event.get("bot_id") or event.get("user") in (None, context.bot_user_id):
        return BoltResponse(status=200, body="")  # our own upload (a chart): nothing to do
    if event.get("channel_type") != "im":
        return BoltResponse(status=200, body="")  # files in channels are conversation
    # The reply is a Web API call: off the thread that acknowledges Slack's request.
    deps.executor.submit(_tell_non_admin, deps, body, event)
    return BoltResponse(status=200, body="")


def _tell_non_admin(deps: Deps, body: dict[str, Any], event: dict[str, Any]) -> None:
    try:
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
        audit(deps, event["user"], "dataset (DM)", "a file", "refused: not an admin")
        deps.slack.chat_postMessage(
            channel=event["channel"],
            thread_ts=event.get("thread_ts") or event["ts"],
            text=FILE_REFUSAL,
        )
    except Exception:
        log.exception("could not tell a non-admin that datasets are for admins")


def _surface(body: dict[str, Any]) -> str:
    if body.get("command"):
        return str(body["command"])
    if body.get("type") == "view_submission":
        return f"form {(body.get('view') or {}).get('callback_id', '?')}"
    actions = body.get("actions") or [{}]
    return f"action {actions[0].get('action_id', '?')}"


def _detail(body: dict[str, Any]) -> str:
    return str(body.get("text") or "")[:500]
