"""The agent DM: someone opens it -> a one-time greeting and the suggested prompts.

In Slack's agent messaging experience (agent_view in the manifest) opening the app's DM
arrives as app_home_opened with tab "messages", every time; the app sets its suggested
prompts on the Messages tab then, without a thread_ts (docs.slack.dev/ai/
migrating-to-agent-messaging). The event's reference asks apps to check that a visit is the
first before onboarding, so the greeting is sent once per person, claimed in the database.
Admins choose the prompts with `/finetune prompts`.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_bolt.context.respond import Respond
from slack_sdk.errors import SlackApiError

from admin.commands import Command
from admin.prompts import PROMPTS_TITLE, current_prompts, reset_prompts, set_prompts
from bot.agent import SET_PROMPTS
from bot.deps import Deps
from storage import agent_repo
from storage.agent_repo import Prompt

log = logging.getLogger(__name__)

GREETING = (
    "Hi <@{user}>! I'm tunebot. I answer from a model fine-tuned on your team's own "
    "conversations. Ask me anything here, pick one of the suggested prompts, or mention me "
    "in a channel."
)


def register(app: App, deps: Deps) -> None:
    # Slack sends app_home_opened for the Messages tab (the DM) and the Home tab alike; Bolt
    # runs the first listener that matches, so each tab's listener matches its own.
    @app.event("app_home_opened", matchers=[lambda event: event.get("tab") == "messages"])
    def open_app(event: dict[str, Any]) -> None:
        greet(deps, user=event["user"], channel=event["channel"])


def greet(deps: Deps, *, user: str, channel: str) -> None:
    """Greet `user` in their DM the first time, and offer the suggested prompts every time."""
    with deps.session_factory.begin() as session:
        first = agent_repo.claim_greeting(session, user_id=user)
        prompts, _ = current_prompts(session)
    if first and not _send_greeting(deps, user, channel):
        with deps.session_factory.begin() as session:
            agent_repo.release_greeting(session, user_id=user)
    deps.agent.call(
        SET_PROMPTS,
        channel_id=channel,
        title=PROMPTS_TITLE,
        prompts=[prompt._asdict() for prompt in prompts],
    )


def _send_greeting(deps: Deps, user: str, channel: str) -> bool:
    try:
        deps.slack.chat_postMessage(channel=channel, text=GREETING.format(user=user))
    except SlackApiError as error:
        log.warning("could not greet in %s: %s", channel, error.response.get("error"))
        return False
    return True


def run_prompts_command(deps: Deps, parsed: Command, user: str, respond: Respond) -> str:
    """`/finetune prompts` (show or set) and `/finetune prompts reset`; the audit outcome."""
    if parsed.name == "prompts reset":
        cleared = reset_prompts(deps.session_factory)
        with deps.session_factory() as session:
            prompts, _ = current_prompts(session)
        lead = "Back to the default prompts" if cleared else "The default prompts are in use"
        respond(response_type="ephemeral", text=f"{lead}:\n{describe(prompts)}")
        return "reset" if cleared else "already the defaults"
    if parsed.args:
        prompts = set_prompts(deps.session_factory, parsed.args, user=user)
        respond(
            response_type="ephemeral",
            text="People see these the next time they open my DM:\n" + describe(prompts),
        )
        return f"set {len(prompts)}"
    with deps.session_factory() as session:
        prompts, custom = current_prompts(session)
    source = "set by an admin" if custom else "the defaults"
    respond(
        response_type="ephemeral",
        text=f"Suggested prompts ({source}):\n{describe(prompts)}\n"
        '`/finetune prompts "title | message" ...` sets them; `/finetune prompts reset` '
        "goes back to the defaults.",
    )
    return "shown"


def describe(prompts: list[Prompt]) -> str:
    return "\n".join(
        f"• *{p.title}*" + ("" if p.title == p.message else f": {p.message}") for p in prompts
    )
