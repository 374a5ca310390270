"""The Home tab in Slack: app_home_opened publishes it; its buttons (promote, roll back,
undeploy) pass the same admin middleware as /finetune and call the same admin functions."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from admin import deployments, home, job_stages, lifecycle
from admin.errors import TunebotError, new_reference
from bot.admins import audit, require_admin
from bot.deps import Deps
from bot.home_views import PROMOTE_ACTION, ROLLBACK_ACTION, UNDEPLOY_ACTION
from storage import repo
from storage.models import utcnow
from storage.repo import ModelRef

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    guard = require_admin(deps)

    @app.event("app_home_opened", matchers=[lambda event: event.get("tab") == "home"])
    def show_home(event: dict[str, Any]) -> None:
        user = event["user"]
        is_admin = user in deps.settings.admins
        home.opened(deps.session_factory, user=user, is_admin=is_admin, now=utcnow())
        deps.home(user)

    @app.action(PROMOTE_ACTION, middleware=[guard])
    def promote(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        label = action["value"]

        def run(user: str) -> str:
            model = job_stages.promote(
                deps.session_factory,
                ref=label,
                user=user,
                notify_channel=deps.settings.notify_channel,
            )
            return f":white_check_mark: Promoted {label}: tunebot answers with `{model}` now."

        _act(deps, body, "promote", label, run)

    @app.action(ROLLBACK_ACTION, middleware=[guard])
    def roll_back(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        shown = ModelRef(**json.loads(action["value"]))

        def run(user: str) -> str:
            with deps.session_factory() as session:
                active = repo.get_active_model(session, default=deps.base_model)
                current = lifecycle.rollback_target(
                    session, current=active, default_model=deps.base_model
                )
            if current != shown:
                raise TunebotError(
                    "The model to roll back to changed since this tab was drawn; "
                    "here is the tab as it is now."
                )
            ref = lifecycle.rollback(deps.session_factory, user=user, default_model=deps.base_model)
            return f":white_check_mark: Rolled tunebot back to `{ref.model}`."

        _act(deps, body, "rollback", str(shown), run)

    @app.action(UNDEPLOY_ACTION, middleware=[guard])
    def undeploy(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        target = ModelRef(**json.loads(action["value"]))

        def run(user: str) -> str:
            said = deployments.undeploy(
                deps.session_factory,
                [(c.name, c) for c in deps.providers],
                model=target.model,
                default_model=deps.base_model,
                provider=target.provider,
            )
            now = utcnow()
            home.refresh_admins(deps.session_factory, reason=f"undeploy:{now:%s%f}", now=now)
            return f":white_check_mark: {said}"

        _act(deps, body, "undeploy", str(target), run)


def _act(
    deps: Deps, body: dict[str, Any], name: str, detail: str, run: Callable[[str], str]
) -> None:
    """Run one button's action as its admin; audit it; show them the outcome on their Home."""
    user = body["user"]["id"]
    try:
        note = outcome = run(user)
    except TunebotError as error:
        note, outcome = f":warning: {error}", f"refused: {error}"
    except Exception:
        reference = new_reference()
        log.exception("Home %s failed (ref %s)", name, reference)
        note, outcome = f"Sorry, that did not work. (ref `{reference}`)", f"error {reference}"
    audit(deps, user, f"home {name}", detail, outcome)
    deps.home(user, note=note)
