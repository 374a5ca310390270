"""The app as its manifest installs it, and its Home tab, in the Slack emulator.

From Slack's published references:

- The manifest schema (github.com/slackapi/manifest-schema): `features.app_home` takes only
  home_tab_enabled, messages_tab_enabled and messages_tab_read_only_enabled, each a boolean;
  `settings.event_subscriptions.bot_events` is a list of unique event names of at most 50
  characters, at most 100 of them. An app receives only the events it subscribes to, and has a
  Home tab only when home_tab_enabled is true.
- views.publish (docs.slack.dev/reference/methods/views.publish): a home view for an app
  whose Home tab is off is `not_enabled`; a view over 250 kB is `view_too_large`; an
  external_id (at most 255 characters) that another view already has is
  `duplicate_external_id`.
- app_home_opened (docs.slack.dev/reference/events/app_home_opened): `user`, `channel` (the
  user's DM with the app), `tab` ("home" or "messages"), `event_ts`, and for the Home tab the
  view last published for that user, if any.
- block_actions from a view (docs.slack.dev/reference/interaction-payloads/block_actions-
  payload): `container` {"type": "view", "view_id"}, the whole `view`, and no channel,
  message or response_url.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from emulators.slack_clicks import button_action
from emulators.slack_events import Delivery, EventSender
from emulators.slack_state import SlackError, Workspace

APP_HOME_KEYS = ("home_tab_enabled", "messages_tab_enabled", "messages_tab_read_only_enabled")
EVENT_NAME_MAX, EVENTS_MAX = 50, 100
VIEW_MAX_BYTES = 250 * 1024
EXTERNAL_ID_MAX = 255


class ManifestError(ValueError):
    """A manifest Slack would refuse to install; the message names the key."""


def install(ws: Workspace, manifest: dict[str, Any]) -> None:
    """Configure the workspace's app as `manifest` says: its Home tab and its bot events."""
    features = manifest.get("features") or {}
    app_home = features.get("app_home") or {}
    if not isinstance(app_home, dict):
        raise ManifestError("features.app_home must be an object")
    for key, value in app_home.items():
        if key not in APP_HOME_KEYS:
            raise ManifestError(f"features.app_home.{key} is not a key Slack knows")
        if not isinstance(value, bool):
            raise ManifestError(f"features.app_home.{key} must be true or false")
    subscriptions = (manifest.get("settings") or {}).get("event_subscriptions") or {}
    events = subscriptions.get("bot_events") or []
    if not isinstance(events, list) or len(events) > EVENTS_MAX:
        raise ManifestError(f"settings.event_subscriptions.bot_events: at most {EVENTS_MAX}")
    for n, name in enumerate(events):
        if not isinstance(name, str) or not 0 < len(name) <= EVENT_NAME_MAX:
            raise ManifestError(
                f"settings.event_subscriptions.bot_events[{n}] must be an event name of "
                f"at most {EVENT_NAME_MAX} characters"
            )
    if len(set(events)) != len(events):
        raise ManifestError("settings.event_subscriptions.bot_events must not repeat a name")
    with ws.lock:
        ws.home_tab_enabled = bool(app_home.get("home_tab_enabled", False))
        ws.bot_events = frozenset(events)


def check_publish(ws: Workspace, view: Any, user: str) -> None:
    """views.publish's own refusals, before the view object's and its blocks' checks."""
    if not isinstance(view, dict):
        return  # the view object's checks say what is wrong with it
    if view.get("type") == "home" and not ws.home_tab_enabled:
        raise SlackError("not_enabled")
    if len(json.dumps(view).encode()) > VIEW_MAX_BYTES:
        raise SlackError("view_too_large")
    external_id = view.get("external_id")
    if external_id:
        if len(str(external_id)) > EXTERNAL_ID_MAX:
            raise SlackError(
                "invalid_arguments",
                response_metadata={
                    "messages": [
                        f"[ERROR] external_id must be at most {EXTERNAL_ID_MAX} characters "
                        "[json-pointer:/view/external_id]"
                    ]
                },
            )
        for other in ws.views.values():
            mine = other["type"] == "home" and other.get("user") == user
            if other.get("external_id") == external_id and not mine:
                raise SlackError("duplicate_external_id")


def home_view(ws: Workspace, user: str) -> dict[str, Any] | None:
    return next(
        (v for v in ws.views.values() if v["type"] == "home" and v.get("user") == user), None
    )


def open_app_home(ws: Workspace, sender: EventSender, user: str, tab: str) -> Delivery:
    """The user opens the app's Home or Messages tab: app_home_opened, as Slack sends it."""
    if tab not in ("home", "messages"):
        raise ValueError(f"tab must be home or messages, not {tab!r}")
    with ws.lock:
        if user not in ws.users:
            raise ValueError(f"unknown user {user}: add it with add_user() first")
        dm, _ = ws.open_dm(user)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": dm,
            "tab": tab,
            "event_ts": ws.next_ts(),
        }
        view = home_view(ws, user)
        if tab == "home" and view is not None:
            event["view"] = copy.deepcopy({k: v for k, v in view.items() if k != "user"})
    return sender.emit(event["event_ts"], [event])


def button_click(ws: Workspace, user: str, action_id: str, value: str | None) -> dict[str, Any]:
    """The block_actions payload of a click on a button of the user's Home tab (the first with
    `action_id`, and `value` if given)."""
    with ws.lock:
        view = home_view(ws, user)
        view = copy.deepcopy(view) if view is not None else None
    if view is None:
        raise ValueError(f"no Home tab was published for {user}")
    for block in view["blocks"]:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("type") != "button" or element.get("action_id") != action_id:
                continue
            if value is not None and element.get("value") != value:
                continue
            del view["user"]
            return {
                "type": "block_actions",
                "container": {"type": "view", "view_id": view["id"]},
                "view": view,
                "actions": [button_action(block, element)],
            }
    raise ValueError(f"{user}'s Home tab has no {action_id} button with value {value!r}")
