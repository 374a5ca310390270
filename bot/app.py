"""build_app: the Bolt app with every listener registered, on the clients in Deps."""

from __future__ import annotations

import logging

from slack_bolt import App

from admin.providers.settings import secret
from bot import chat, commands, datasets, feedback, greeting, home_actions, upload_flow
from bot.deps import Deps
from bot.logs import bolt_logger

log = logging.getLogger(__name__)


def build_app(deps: Deps) -> App:
    """A Bolt app that acknowledges at once and does the slow work on deps.executor."""
    settings = deps.settings
    app = App(
        client=deps.slack,
        signing_secret=secret(settings.slack_signing_secret) or "socket-mode-has-no-signing-secret",
        # Ack first, answer after: Slack wants the HTTP response within 3 seconds.
        process_before_response=False,
        listener_executor=deps.executor,
        # auth.test at construction tells Bolt the bot's own user id, to ignore itself.
        token_verification_enabled=True,
        # Bolt hands this logger's filters to its own: refused requests are summarised,
        # never logged with their body.
        logger=bolt_logger(),
    )
    # The file_share listener goes first: Bolt runs the first listener that matches.
    datasets.register(app, deps)
    chat.register(app, deps)
    greeting.register(app, deps)
    commands.register(app, deps)
    upload_flow.register(app, deps)
    feedback.register(app, deps)
    home_actions.register(app, deps)
    return app
