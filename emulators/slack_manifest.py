"""apps.manifest.validate in the Slack emulator: an app manifest checked as Slack checks it.

The shape is Slack's published manifest schema (github.com/slackapi/manifest-schema,
schemas/manifest.schema.1.0.0.json, with `features.agent_view` from its release 0.5.0):
known keys only, their types, lengths, patterns and item counts. The sections tunebot does
not use (functions, workflows, datastores, types, external auth, MCP servers, the App
Directory listing) are known keys whose contents are not checked here.

On top of the schema, the checks the method reference shows (docs.slack.dev/reference/
methods/apps.manifest.validate): event subscriptions and interactivity need a request URL
unless Socket Mode is on, and each bot event needs a scope that lets the app receive it
(from the events reference: message.im needs im:history, and so on).

A failure is `invalid_manifest` with an `errors` list of {message, pointer}.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from emulators.slack_state import Params, SlackError, Workspace, required


@dataclass(frozen=True)
class Rule:
    kind: str  # object | array | string | boolean | integer | any
    props: dict[str, Rule] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    items: Rule | None = None
    least: int | None = None  # minLength / minItems
    most: int | None = None  # maxLength / maxItems
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    unique: bool = False


def _obj(needs: tuple[str, ...] = (), **props: Rule) -> Rule:
    return Rule("object", props=props, needs=needs)


def _arr(items: Rule, least: int | None = None, most: int | None = None, **kw: Any) -> Rule:
    return Rule("array", items=items, least=least, most=most, **kw)


def _str(least: int | None = None, most: int | None = None, **kw: Any) -> Rule:
    return Rule("string", least=least, most=most, **kw)


BOOL, INT, ANY = Rule("boolean"), Rule("integer"), Rule("any")
URL = _str(most=3500, pattern=r"^https?://")
PROMPT = _obj(("title", "message"), title=_str(), message=_str())
EVENT_NAMES = _arr(_str(most=50), most=100, unique=True)
SCOPE_LIST = _arr(_str(most=50), most=255)

MANIFEST = _obj(
    ("display_information",),
    **{"$schema": _str()},
    _metadata=_obj(schema_version=INT, min_version=INT, major_version=INT, minor_version=INT),
    app_directory=ANY,
    display_information=_obj(
        ("name",),
        name=_str(1, 35),
        description=_str(1, 140),
        background_color=_str(4, 7, pattern=r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$"),
        long_description=_str(175, 4000),
    ),
    features=_obj(
        app_home=_obj(
            home_tab_enabled=BOOL, messages_tab_enabled=BOOL, messages_tab_read_only_enabled=BOOL
        ),
        bot_user=_obj(("display_name",), display_name=_str(1, 80), always_online=BOOL),
        functions=ANY,
        shortcuts=_arr(
            _obj(
                ("name", "type", "callback_id", "description"),
                name=_str(1, 24),
                type=_str(choices=("message", "global")),
                callback_id=_str(1, 255),
                description=_str(1, 150),
            ),
            1,
            10,
        ),
        slash_commands=_arr(
            _obj(
                ("command", "description"),
                command=_str(2, 32, pattern=r"^/"),
                url=_str(most=3000, pattern=r"^https?://"),
                description=_str(1, 2000),
                usage_hint=_str(1, 1000),
                should_escape=BOOL,
            ),
            1,
            50,
        ),
        workflow_steps=_arr(
            _obj(("name", "callback_id"), name=_str(1, 50), callback_id=_str(1, 50)), 1, 10
        ),
        unfurl_domains=_arr(
            _str(most=255, pattern=r"^(?![.\-])([-a-z0-9.])+([a-z0-9])$"), 1, 5, unique=True
        ),
        assistant_view=_obj(
            ("assistant_description",), assistant_description=_str(), suggested_prompts=_arr(PROMPT)
        ),
        agent_view=_obj(
            agent_description=_str(most=300),
            suggested_prompts=_arr(PROMPT, most=4),
            actions=_arr(_obj(("name", "description"), name=_str(), description=_str())),
        ),
    ),
    oauth_config=_obj(
        redirect_urls=_arr(_str(most=2500), most=1000, unique=True),
        scopes=_obj(
            user=SCOPE_LIST, bot=SCOPE_LIST, user_optional=SCOPE_LIST, bot_optional=SCOPE_LIST
        ),
        token_management_enabled=BOOL,
        pkce_enabled=BOOL,
    ),
    settings=_obj(
        allowed_ip_address_ranges=_arr(
            _str(pattern=r"^(\d{1,3}\.){3}\d{1,3}(/\d{1,2})?$"), 1, 50, unique=True
        ),
        event_subscriptions=_obj(
            request_url=URL,
            user_events=EVENT_NAMES,
            bot_events=EVENT_NAMES,
            metadata_subscriptions=_arr(
                _obj(("app_id", "event_type"), app_id=_str(), event_type=_str(most=50)), 1, 20
            ),
        ),
        incoming_webhooks=_obj(incoming_webhooks_enabled=BOOL),
        interactivity=_obj(
            ("is_enabled",), is_enabled=BOOL, request_url=URL, message_menu_options_url=URL
        ),
        org_deploy_enabled=BOOL,
        socket_mode_enabled=BOOL,
        is_hosted=BOOL,
        token_rotation_enabled=BOOL,
        siws_links=_obj(initiate_uri=_str(most=3500, pattern=r"^https://")),
        hermes_app_type=_str(),
        function_runtime=_str(),
        is_mcp_enabled=BOOL,
    ),
    functions=ANY,
    workflows=ANY,
    datastores=ANY,
    outgoing_domains=_arr(_str(most=50), 0, 10, unique=True),
    types=ANY,
    external_auth_providers=ANY,
    mcp_servers=ANY,
)

# Bot events and the scopes that let an app receive them (any one will do).
EVENT_SCOPES = {
    "app_mention": ("app_mentions:read",),
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "message.im": ("im:history",),
    "message.mpim": ("mpim:history",),
    "reaction_added": ("reactions:read",),
    "reaction_removed": ("reactions:read",),
    "file_shared": ("files:read",),
}

_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
}


def check(value: Any, rule: Rule, pointer: str = "") -> list[dict[str, str]]:
    """Schema errors of `value` against `rule`, each with its JSON pointer."""
    where = pointer or "/"
    if rule.kind == "any":
        return []
    wrong_type = not isinstance(value, _TYPES[rule.kind]) or (
        rule.kind == "integer" and isinstance(value, bool)
    )
    if wrong_type:
        return [{"message": f"must be of type {rule.kind}", "pointer": where}]
    if rule.kind == "object":
        return _check_object(value, rule, pointer)
    if rule.kind == "array":
        return _check_array(value, rule, pointer)
    if rule.kind == "string":
        return _check_string(value, rule, where)
    return []


def _check_object(value: dict[str, Any], rule: Rule, pointer: str) -> list[dict[str, str]]:
    errors = [
        {"message": f"missing required property: {key}", "pointer": pointer or "/"}
        for key in rule.needs
        if key not in value
    ]
    for key, item in value.items():
        if key not in rule.props:
            errors.append({"message": "is not a known property", "pointer": f"{pointer}/{key}"})
        else:
            errors += check(item, rule.props[key], f"{pointer}/{key}")
    return errors


def _check_array(value: list[Any], rule: Rule, pointer: str) -> list[dict[str, str]]:
    errors = []
    if rule.least is not None and len(value) < rule.least:
        errors.append({"message": f"must have at least {rule.least} items", "pointer": pointer})
    if rule.most is not None and len(value) > rule.most:
        errors.append({"message": f"must have at most {rule.most} items", "pointer": pointer})
    if rule.unique and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
        errors.append({"message": "must not repeat items", "pointer": pointer})
    assert rule.items is not None
    for n, item in enumerate(value):
        errors += check(item, rule.items, f"{pointer}/{n}")
    return errors


def _check_string(value: str, rule: Rule, where: str) -> list[dict[str, str]]:
    if rule.least is not None and len(value) < rule.least:
        return [{"message": f"must be at least {rule.least} characters", "pointer": where}]
    if rule.most is not None and len(value) > rule.most:
        return [{"message": f"must be at most {rule.most} characters", "pointer": where}]
    if rule.pattern and not re.search(rule.pattern, value):
        return [{"message": f"must match {rule.pattern}", "pointer": where}]
    if rule.choices and value not in rule.choices:
        return [{"message": f"must be one of {', '.join(rule.choices)}", "pointer": where}]
    return []


def _settings_errors(manifest: dict[str, Any]) -> list[dict[str, str]]:
    settings = manifest.get("settings") or {}
    socket_mode = settings.get("socket_mode_enabled") is True
    events = settings.get("event_subscriptions") or {}
    interactivity = settings.get("interactivity") or {}
    scopes = (manifest.get("oauth_config") or {}).get("scopes") or {}
    granted = set(scopes.get("bot") or []) | set(scopes.get("bot_optional") or [])
    errors = []
    if (events.get("bot_events") or events.get("user_events")) and not (
        events.get("request_url") or socket_mode
    ):
        errors.append(
            {
                "message": "Event subscriptions need a request URL or Socket Mode",
                "pointer": "/settings/event_subscriptions",
            }
        )
    if interactivity.get("is_enabled") and not (interactivity.get("request_url") or socket_mode):
        errors.append(
            {"message": "Interactivity needs a request URL", "pointer": "/settings/interactivity"}
        )
    for n, event in enumerate(events.get("bot_events") or []):
        needed = EVENT_SCOPES.get(event)
        if needed and not granted & set(needed):
            errors.append(
                {
                    "message": f"Bot event {event} needs one of these bot scopes: "
                    + ", ".join(needed),
                    "pointer": f"/settings/event_subscriptions/bot_events/{n}",
                }
            )
    return errors


def validate(manifest: Any) -> list[dict[str, str]]:
    """Every error Slack would report for `manifest` (a parsed JSON value); [] if valid."""
    errors = check(manifest, MANIFEST)
    if not errors:
        errors = _settings_errors(manifest)
    return errors


def validate_method(ws: Workspace, p: Params) -> dict[str, Any]:
    """apps.manifest.validate: `manifest` is the manifest as a JSON string."""
    raw = required(p, "manifest")
    if p.get("app_id") and p["app_id"] != ws.app_id:
        raise SlackError("invalid_app_id")
    try:
        manifest = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        errors = [{"message": "is not valid JSON", "pointer": "/"}]
    else:
        errors = validate(manifest)
    if errors:
        raise SlackError("invalid_manifest", errors=errors)
    return {"ok": True}
