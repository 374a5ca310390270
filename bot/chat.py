"""Mentions, DMs and thread follow-ups -> an answer from the active model, streamed; then the
turn, and the answer kept for ratings (which references it), written in one transaction."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from admin import announce
from admin.errors import ModelUnavailable, ProviderUnavailable, TunebotError, new_reference
from bot import limits
from bot.deps import Deps
from bot.feedback import answer_values
from bot.feedback_views import build_feedback_blocks
from bot.history import (
    APOLOGY_EVENT,
    budget_for,
    fetch_thread,
    fit_to_budget,
    to_chat_messages,
)
from bot.llm import ReplyStream
from bot.streaming import ReplyWriter
from storage import feedback_repo, repo
from storage.models import Turn, utcnow
from storage.repo import ModelRef

log = logging.getLogger(__name__)

IGNORED_SUBTYPES = {"message_changed", "message_deleted", "bot_message", "channel_join"}


@dataclass(frozen=True)
class Question:
    team_id: str | None
    channel: str
    user: str
    text: str
    ts: str
    thread_ts: str  # the thread to answer in: the message's own ts when it is top-level
    is_dm: bool = False

    @property
    def is_thread_reply(self) -> bool:
        return self.thread_ts != self.ts

    def turn(self, model: ModelRef, *, outcome: str) -> Turn:
        """The record of this question, answered (or not) by `model`."""
        return Turn(
            team_id=self.team_id,
            channel_id=self.channel,
            thread_ts=self.thread_ts,
            message_ts=self.ts,
            user_id=self.user,
            provider=model.provider,
            model=model.model,
            outcome=outcome,
        )


def register(app: App, deps: Deps) -> None:
    @app.event("app_mention")
    def answer_mention(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        if _is_from_a_bot(event, context) or event.get("subtype") in IGNORED_SUBTYPES:
            return
        _answer_event(deps, context, body, event)

    @app.event("message")
    def answer_message(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        if _is_from_a_bot(event, context) or event.get("subtype") in IGNORED_SUBTYPES:
            return
        if event.get("subtype") not in (None, "thread_broadcast"):
            return
        if event.get("channel_type") == "im":
            _answer_event(deps, context, body, event)
            return
        thread_ts = event.get("thread_ts")
        if not thread_ts or _mentions(event, context.bot_user_id):
            return  # top-level chatter is not for us; mentions come as app_mention
        with deps.session_factory() as session:
            if not repo.has_answered_thread(
                session, channel_id=event["channel"], thread_ts=thread_ts
            ):
                return
        _answer_event(deps, context, body, event)


def _is_from_a_bot(event: dict[str, Any], context: BoltContext) -> bool:
    return bool(event.get("bot_id")) or event.get("user") in (None, context.bot_user_id)


def _mentions(event: dict[str, Any], bot_user_id: str | None) -> bool:
    return bool(bot_user_id) and f"<@{bot_user_id}>" in (event.get("text") or "")


def _answer_event(
    deps: Deps, context: BoltContext, body: dict[str, Any], event: dict[str, Any]
) -> None:
    question = Question(
        team_id=event.get("team") or body.get("team_id"),
        channel=event["channel"],
        user=event["user"],
        text=event.get("text") or "",
        ts=event["ts"],
        thread_ts=event.get("thread_ts") or event["ts"],
        is_dm=event.get("channel_type") == "im",
    )
    with deps.session_factory.begin() as session:
        fresh = repo.claim_message(
            session,
            event_id=body.get("event_id"),
            event_type=event.get("type", "message"),
            channel=question.channel,
            ts=question.ts,
        )
        # Read in the claim's transaction: one database round trip fewer before the first words.
        model = repo.get_active_model(session, default=deps.base_model, channel=question.channel)
        prompt = repo.channel_prompt(session, channel=question.channel)
        # The allowlist, the daily limit and the budget, before any model is asked.
        verdict = limits.check(session, deps, question, model) if fresh else None
    if verdict is None:
        log.info(
            "event for %s:%s already taken; not answering twice", question.channel, question.ts
        )
        return
    if verdict.model is None:
        verdict.refuse(deps, question, model)
        return
    assert context.bot_user_id is not None
    answer(
        deps,
        # The app's own client, not Bolt's per-request one: it keeps its connections to
        # Slack open, so an answer does not start with a handshake per Web API call.
        deps.slack,
        question,
        model=verdict.model,
        system_prompt=prompt or deps.settings.system_prompt,
        bot_user_id=context.bot_user_id,
        bot_id=context.bot_id,
    )


def answer(
    deps: Deps,
    client: WebClient,
    question: Question,
    *,
    model: ModelRef,
    system_prompt: str,
    bot_user_id: str,
    bot_id: str | None,
) -> None:
    """Answer one question in its thread with `model` (the one answering in its channel, at
    its provider) and `system_prompt` (the channel's, or the workspace's)."""
    started = time.monotonic()
    settings = deps.settings
    turn = question.turn(model, outcome="answered")
    answer_row: dict[str, Any] | None = None  # kept for ratings once the answer is whole
    writer = ReplyWriter(
        client,
        channel=question.channel,
        thread_ts=question.thread_ts,
        recipient_user_id=question.user,
        recipient_team_id=question.team_id,
    )
    working = deps.agent.working(question, writer)  # status and title, off the reply's path
    try:
        if question.is_thread_reply:
            slack_messages = fetch_thread(
                client, channel=question.channel, thread_ts=question.thread_ts
            )
        else:
            slack_messages = [{"user": question.user, "text": question.text, "ts": question.ts}]
        turns = to_chat_messages(slack_messages, bot_user_id=bot_user_id, bot_id=bot_id)
        if not turns:
            turns = [{"role": "user", "content": _strip_mention(question.text, bot_user_id)}]
        budget = budget_for(
            deps.providers.context_window(model.provider, model.model) or settings.context_window,
            max_reply_tokens=settings.max_reply_tokens,
            cap=settings.history_token_budget,
        )
        messages = fit_to_budget(system_prompt, turns, model=model.model, budget=budget)
        try:
            reply = _stream(deps, model, messages)
        except ModelUnavailable:
            if model in (deps.base_model, deps.budget_fallback):
                raise  # nothing to fall back to (a spent budget must not resume spending)
            model = fall_back(deps, model, channel=question.channel)
            turn.provider, turn.model = model.provider, model.model
            reply = _stream(deps, model, messages)
        for delta in reply.deltas:
            writer.write(delta)
        # Feedback buttons go under the last part of a finished answer, never on an apology.
        writer.finish(blocks=build_feedback_blocks() if writer.text else None)
        if writer.text and writer.message_ts:
            answer_row = answer_values(
                deps,
                reply_ts=writer.message_ts[-1],
                is_dm=question.is_dm,
                prompt=messages,
                text=writer.text,
            )
        turn.prompt_tokens = reply.usage.prompt_tokens
        turn.completion_tokens = reply.usage.completion_tokens
    except Exception as error:
        turn.outcome, turn.error_ref = _apologise(client, writer, question, error)
    working.done()
    turn.latency_ms = int((time.monotonic() - started) * 1000)
    try:
        # One write transaction per answer: under a burst, SQLite writers queue for its lock.
        # The turn's INSERT returns its id, so the answer needs no read to reference it.
        with deps.session_factory.begin() as session:
            turn_id = repo.record_turn(session, turn=turn)
            if answer_row is not None:
                feedback_repo.record_answer(session, turn_id=turn_id, values=answer_row)
    except Exception:
        log.exception("could not record the turn for %s:%s", question.channel, question.ts)


def _stream(deps: Deps, model: ModelRef, messages: list[dict[str, Any]]) -> ReplyStream:
    # The chat endpoint of the model's own provider: a model trained elsewhere answers there.
    gateway = deps.chat.gateway(model.provider, model.model)
    return gateway.stream(
        model=model.model, messages=messages, max_tokens=deps.settings.max_reply_tokens
    )


def fall_back(deps: Deps, missing: ModelRef, *, channel: str) -> ModelRef:
    """The model answering in `channel` stopped answering: a channel's own model gives way to
    the workspace's, the workspace's to the base model (and its provider), for every replica;
    said once. Returns what answers there now."""
    base = deps.base_model
    with deps.session_factory.begin() as session:
        workspace = repo.get_active_model(session, default=base)
        switched = repo.follow_workspace(
            session, channel=channel, workspace=workspace, set_by_user=None, expected=missing
        )
        where = f" in <#{channel}>" if switched else ""
        if switched:
            now = workspace
        else:
            switched = repo.set_active_model(
                session, model=base, reason="fallback", set_by_job=None, expected=missing
            )
            now = base
        if switched:
            announce.post(
                session,
                key=f"fallback:{missing.provider}:{missing.model}:{utcnow().isoformat()}",
                kind=announce.Kind.FALLBACK,
                channel=deps.settings.notify_channel,
                payload=announce.text(
                    f":warning: `{missing.model}` no longer answers at "
                    f"{deps.providers.label(missing.provider)} (it says the model does not "
                    f"exist), so tunebot now answers{where} with `{now.model}` at "
                    f"{deps.providers.label(now.provider)}. "
                    "`/finetune models` lists the others; `/finetune use <model>` switches."
                ),
            )
        else:
            now = repo.get_active_model(session, default=base, channel=channel)
    log.warning(
        "model %s unavailable; %s", missing, "fell back" if switched else "switched already"
    )
    return now


def _apologise(
    client: WebClient, writer: ReplyWriter, question: Question, error: Exception
) -> tuple[str, str]:
    reference = new_reference()
    if isinstance(error, ModelUnavailable):
        outcome, reason = "model_unavailable", "the model I answer with is not available right now"
    elif isinstance(error, ProviderUnavailable):
        outcome, reason = "provider_error", "the model service is busy or unreachable"
    elif isinstance(error, TunebotError):
        outcome, reason = "error", str(error)
    else:
        outcome, reason = "error", "something went wrong on my side"
    log.error(
        "answer failed (ref %s) in %s:%s: %s",
        reference,
        question.channel,
        question.ts,
        error,
        exc_info=not isinstance(error, TunebotError),
    )
    text = (
        f"Sorry, I couldn't answer that: {reason}. "
        f"Please try again in a moment. (ref `{reference}`)"
    )
    try:
        if writer.text:
            writer.write("\n\n_" + text + "_")
            writer.finish()
        else:
            client.chat_postMessage(
                channel=question.channel,
                thread_ts=question.thread_ts,
                text=text,
                # Marked so the thread's history sent to the model leaves it out.
                metadata={"event_type": APOLOGY_EVENT, "event_payload": {"ref": reference}},
            )
    except Exception:
        log.exception("could not tell the user about ref %s", reference)
    return outcome, reference


def _strip_mention(text: str, bot_user_id: str) -> str:
    return re.sub(rf"<@{re.escape(bot_user_id)}>\s*", "", text).strip() or text
