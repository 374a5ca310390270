"""Feedback on answers: recording them, 👍/👎 clicks, corrections by modal, /finetune feedback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from admin import feedback
from admin.commands import Command
from bot import feedback_views as views
from bot.deps import Deps
from storage import feedback_repo
from storage.feedback_repo import Vote

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    @app.action(views.FEEDBACK_ACTION)
    def rate_answer(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        user = body["user"]["id"]
        container = body.get("container") or {}
        channel = container.get("channel_id") or body["channel"]["id"]
        message = body.get("message") or {}
        # The clicked message: the answer's last one, which carries the buttons.
        reply_ts = container.get("message_ts") or message["ts"]
        vote = Vote(action["value"])
        with deps.session_factory.begin() as session:
            answer = feedback_repo.find_answer(session, channel_id=channel, reply_ts=reply_ts)
            if answer is None:
                text, blocks = "I no longer have that answer, so the rating was not kept.", None
            else:
                previous = feedback_repo.cast_vote(
                    session, answer_id=answer.id, user_id=user, vote=vote
                )
                text, blocks = views.build_thanks(
                    vote, previous, answer.id, can_correct=answer.text is not None
                )
        deps.slack.chat_postEphemeral(
            channel=channel,
            user=user,
            thread_ts=message.get("thread_ts") or container.get("thread_ts"),
            text=text,
            blocks=blocks,
        )

    @app.action(views.SUGGEST_ACTION)
    def offer_correction(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        with deps.session_factory() as session:
            answer = feedback_repo.get_answer(session, answer_id=int(action["value"]))
            text = answer.text if answer is not None else None
        if answer is None or text is None:
            return  # its text has expired: there is nothing to correct against
        deps.slack.views_open(
            trigger_id=body["trigger_id"], view=views.build_correction_view(answer.id, text)
        )

    @app.view(views.CORRECTION_CALLBACK)
    def submit_correction(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        answer_id, text = views.read_correction(view)
        if not text:
            ack(
                response_action="errors",
                errors={views.CORRECTION_BLOCK: "Write the answer you would have wanted."},
            )
            return
        ack()
        with deps.session_factory.begin() as session:
            if feedback_repo.get_answer(session, answer_id=answer_id) is not None:
                feedback_repo.save_correction(
                    session, answer_id=answer_id, user_id=body["user"]["id"], text=text
                )


def answer_values(
    deps: Deps, *, reply_ts: str, is_dm: bool, prompt: list[dict[str, Any]], text: str
) -> dict[str, Any]:
    """A finished answer as it is kept for ratings: what is its own, beside its turn (it is
    written with the turn, in one transaction). DM texts are kept only with feedback_dms on."""
    keep_texts = not is_dm or deps.settings.feedback_dms
    return {
        "reply_ts": reply_ts,
        "is_dm": is_dm,
        "prompt": prompt if keep_texts else None,
        "text": text if keep_texts else None,
    }


def show_feedback(deps: Deps, client: WebClient, respond: Respond) -> str:
    """`/finetune feedback`: the counts and the latest answers voted down, with links."""
    summary = feedback.summarize(deps.session_factory, now=datetime.now(UTC))

    def link(channel: str, ts: str) -> str | None:
        try:
            return str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except SlackApiError:
            return None

    def label(provider: str | None) -> str:
        return deps.providers.label(provider) if provider else "an unrecorded provider"

    respond(response_type="ephemeral", text=views.build_summary(summary, link, label))
    return "shown"


def export_feedback(deps: Deps, parsed: Command, user: str, respond: Respond) -> str:
    """`/finetune feedback dataset`: rated answers -> validated, stored datasets."""
    options = parsed.options
    since = options.get("since")
    export = feedback.collect(
        deps.session_factory,
        since=since,
        model=options.get("model"),
        min_votes=options.get("min_votes") or 1,
        include_dms=deps.settings.feedback_dms,
    )
    built = feedback.build_datasets(
        export,
        uploader=user,
        base_model=deps.base_model.model,
        session_factory=deps.session_factory,
        provider=deps.providers.get(None),
        store=deps.store,
        day=datetime.now(UTC).strftime("%Y-%m-%d"),
    )
    respond(
        response_type="ephemeral",
        text=views.build_export_text(built, dms_included=deps.settings.feedback_dms),
    )
    stored = [t[1].dataset.label for t in (built.chat, built.preferences) if t and t[1].dataset]
    return f"feedback dataset: {', '.join(stored) or 'nothing stored'}"
