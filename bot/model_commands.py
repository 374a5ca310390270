"""/finetune use, rollback, prompt and channels, and the lines of /finetune models: which model
and prompt answer where (the workspace's, or a channel's own), after the ack."""

from __future__ import annotations

import html
import re

from slack_bolt import Respond

from admin import lifecycle
from admin.commands import Command
from admin.errors import TunebotError
from bot import job_views
from bot.deps import Deps
from storage import job_repo, repo
from storage.repo import ModelRef

# A channel's prompt is sent with every question asked there: long enough for real
# instructions, short enough to leave the model room for the thread.
MAX_PROMPT_CHARS = 4000


def run_model_command(deps: Deps, parsed: Command, user: str, respond: Respond) -> str:
    """One of this module's subcommands; returns the audit outcome."""
    channel = parsed.options.get("channel")
    if parsed.name == "channels":
        with deps.session_factory() as session:
            workspace = repo.get_active_model(session, default=deps.base_model)
            own = repo.channel_models(session)
            prompts = repo.channel_prompts(session)
        text = job_views.build_channel_list(workspace, own, prompts, deps.providers)
        respond(response_type="ephemeral", text=text)
        return "listed"
    if parsed.name == "use":
        return _use(deps, parsed, user, channel, respond)
    if parsed.name == "rollback":
        ref = lifecycle.rollback(
            deps.session_factory, user=user, default_model=deps.base_model, channel=channel
        )
        where = f" in <#{channel}>" if channel else ""
        respond(
            response_type="in_channel",
            text=f"<@{user}> rolled tunebot back{where} to `{ref.model}` at "
            f"{deps.providers.label(ref.provider)}.",
        )
        return f"rolled back{where} to {ref}"
    if parsed.name == "prompt":
        assert channel is not None  # required by the grammar
        return _prompt(deps, parsed, user, channel, respond)
    raise TunebotError(f"`{parsed.name}` is not available.")


def _use(deps: Deps, parsed: Command, user: str, channel: str | None, respond: Respond) -> str:
    ref = lifecycle.resolve_model(
        deps.session_factory,
        deps.providers,
        model=parsed.args[0],
        provider=parsed.options.get("provider"),
        default_model=deps.base_model,
    )
    changed = lifecycle.use_model(deps.session_factory, ref=ref, user=user, channel=channel)
    model = f"`{ref.model}` at {deps.providers.label(ref.provider)}"
    where = f" in <#{channel}>" if channel else ""
    text = (
        f"<@{user}> switched tunebot{where} to {model}."
        if changed
        else f"tunebot already answers{where} with {model}."
    )
    respond(response_type="in_channel" if changed else "ephemeral", text=text)
    return f"use {ref}{where}: {'switched' if changed else 'unchanged'}"


def _prompt(deps: Deps, parsed: Command, user: str, channel: str, respond: Respond) -> str:
    words = parsed.args
    if not words:
        with deps.session_factory() as session:
            prompt = repo.channel_prompt(session, channel=channel)
        shown = f"its own prompt:\n>{prompt}" if prompt else "the workspace's prompt"
        respond(response_type="ephemeral", text=f"<#{channel}> answers with {shown}")
        return "shown"
    text = plain_text(words[0])
    if text.lower() == "reset":
        with deps.session_factory.begin() as session:
            removed = repo.set_channel_prompt(session, channel=channel, prompt=None, user=user)
        said = "uses the workspace's prompt again" if removed else "had no prompt of its own"
        respond(
            response_type="in_channel" if removed else "ephemeral", text=f"<#{channel}> {said}."
        )
        return "reset" if removed else "unchanged"
    if not text:
        raise TunebotError('The prompt is empty. Put it in quotes: `prompt channel=#c "..."`.')
    if len(text) > MAX_PROMPT_CHARS:
        raise TunebotError(
            f"That prompt is {len(text):,} characters; the most a channel's prompt may have is "
            f"{MAX_PROMPT_CHARS:,}."
        )
    with deps.session_factory.begin() as session:
        repo.set_channel_prompt(session, channel=channel, prompt=text, user=user)
    respond(
        response_type="in_channel",
        text=f"<@{user}> gave <#{channel}> its own prompt; questions there are answered with it.",
    )
    return f"prompt set ({len(text)} characters)"


def plain_text(escaped: str) -> str:
    """A command's text as the admin typed it: Slack escapes `&`, `<` and `>`, and sends links,
    channels and people as `<…|label>`."""
    return html.unescape(_ESCAPED.sub(_unescape, escaped)).strip()


_ESCAPED = re.compile(r"<([#@!])[^|>]*\|([^>]*)>|<([^|>]*)(?:\|[^>]*)?>")


def _unescape(found: re.Match[str]) -> str:
    if found.group(1):
        return found.group(1) + found.group(2)  # #general, @minji
    return found.group(3)  # a link: its address


def model_lines(deps: Deps) -> list[lifecycle.ModelLine]:
    """Models used so far, newest first, with where each answers now."""
    with deps.session_factory() as session:
        scopes = lifecycle.answering(session, default_model=deps.base_model)
        history = repo.model_history(session, limit=30)
        jobs = job_repo.jobs_for_models(session, models={h.model for h in history})
    where: dict[ModelRef, list[str | None]] = {}
    for scope in scopes:
        where.setdefault(scope.current, []).append(scope.channel)
    seen: dict[ModelRef, lifecycle.ModelLine] = {}

    def line(ref: ModelRef, since: str, by: str) -> lifecycle.ModelLine:
        ends = lifecycle.shutdown_date(deps.providers, ref)
        advice = lifecycle.migration_advice(deps.session_factory, deps.providers, ref, ends)
        job = jobs.get(ref.model)
        trained = job.fine_tuned_model if job is not None and job.provider == ref.provider else None
        answers_in = tuple(where.get(ref, ()))
        return lifecycle.ModelLine(ref, answers_in, since, by, ends, advice, trained)

    for entry in history:
        if entry.ref in seen or entry.reason == repo.FOLLOWS_WORKSPACE:
            continue
        by = (
            f"by <@{entry.set_by_user}>"
            if entry.set_by_user
            else (f"from {entry.set_by_job}" if entry.set_by_job else entry.reason)
        )
        if entry.channel is not None:
            by += f" for <#{entry.channel}>"
        seen[entry.ref] = line(entry.ref, f"since {entry.activated_at:%Y-%m-%d %H:%M} UTC", by)
    workspace = scopes[0].current
    if workspace not in seen:
        seen[workspace] = line(workspace, "the base model", "TUNEBOT_BASE_MODEL")
    return list(seen.values())
