"""Helpers for the Home tab and plan message tests: the app installed from its manifest, the
Home tab opened and read, the plan message in an admin's DM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.job_plans import PLAN_EVENT
from emulators.sandbox import Sandbox
from storage.models import Job
from tests.eval_helpers import add_dataset, pairs, train

MANIFEST = Path(__file__).resolve().parents[1] / "slack-manifest.yaml"


def install_manifest(box: Sandbox) -> None:
    """The app as users install it: the one manifest they paste (Home tab, its event)."""
    box.slack.install(yaml.safe_load(MANIFEST.read_text()))


def published(box: Sandbox, user: str) -> str | None:
    """The hash of the Home view published for `user` (None before the first)."""
    view = box.slack.home_tab(user)
    return view["hash"] if view is not None else None


def republished(box: Sandbox, user: str, before: str | None) -> dict[str, Any]:
    """The user's Home view once one newer than `before` is published."""

    def newer() -> dict[str, Any] | None:
        view = box.slack.home_tab(user)
        return view if view is not None and view["hash"] != before else None

    return box.slack.wait_for(newer, timeout=20)


def open_home(box: Sandbox, user: str) -> dict[str, Any]:
    """Open the Home tab as `user`; the view the bot published for it."""
    before = published(box, user)
    box.slack.open_app_home(user, "home")
    return republished(box, user, before)


def text_of(view: dict[str, Any]) -> str:
    """Everything a person reads on a view, block after block (button labels too)."""
    parts = []
    for block in view["blocks"]:
        items = [block, block.get("accessory") or {}, *(block.get("elements") or [])]
        for item in items:
            text = item.get("text")
            parts.append(text.get("text", "") if isinstance(text, dict) else str(text or ""))
    return "\n".join(p for p in parts if p)


def buttons(view: dict[str, Any]) -> list[tuple[str, str]]:
    """(action_id, value) of every button on a view."""
    found = []
    for block in view["blocks"]:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("type") == "button":
                found.append((element["action_id"], element.get("value", "")))
    return found


def plan_messages(box: Sandbox, channel: str) -> list[dict[str, Any]]:
    """The bot's plan messages in a DM (each carries its job in its metadata)."""
    return [
        m
        for m in box.slack.messages(channel)
        if (m.get("metadata") or {}).get("event_type") == PLAN_EVENT
    ]


def plan_lines(message: dict[str, Any]) -> list[str]:
    """A plan message's title and task lines as shown."""
    return [
        (b.get("text") or {}).get("text", "")
        for b in message.get("blocks") or []
        if b["type"] in ("header", "section")
    ]


def train_with_held_out(box: Sandbox) -> tuple[Job, dict[str, str]]:
    """job-1, started from Slack on a dataset with held-out data; the held-out references."""
    rows = add_dataset(box)
    references = pairs(box, rows[1])
    return train(box), references


def script_evaluation(
    box: Sandbox, model: str, references: dict[str, str], *, candidate: str | None
) -> None:
    """The base model answers the held-out prompts with the references; the new `model` does
    too (candidate None: it goes live) or answers `candidate` (it is held back)."""
    box.openai.script(box.settings.base_model, references)
    if candidate is None:
        box.openai.script(model, references)
    else:
        box.openai.script(model, lambda m, msgs, text=candidate: text)
