"""Block Kit as Slack checks it in chat.* and views.*: known block and element types, limits.

From the Block Kit reference (docs.slack.dev/reference/block-kit): a block or element of a
type Slack does not know, or one in a place it may not go (feedback buttons outside a
context_actions block), is refused with `invalid_blocks` and a message naming the field.
Blocks stored without a block_id get one generated, as Slack does.

Also from the reference: a block_id is unique within its message or view, an action_id
within its block; a header's text is plain_text of at most 150 characters; a button's text is
plain_text of at most 75, its value at most 2,000 characters, its url at most 3,000, its style
primary or danger; a confirmation dialog has a plain_text title (100), text (300), confirm and
deny labels (30 each).
"""

from __future__ import annotations

import uuid
from typing import Any

from emulators.slack_state import SlackError

_MENUS = ("static", "external", "users", "conversations", "channels")
_SELECTS = {f"{kind}_select" for kind in _MENUS} | {f"multi_{kind}_select" for kind in _MENUS}
_CHOOSERS = {"checkboxes", "datepicker", "overflow", "radio_buttons", "timepicker"} | _SELECTS
ACTIONS_ELEMENTS = _CHOOSERS | {"button", "datetimepicker", "workflow_button"}
ACCESSORIES = _CHOOSERS | {"button", "image", "workflow_button"}
INPUT_ELEMENTS = _CHOOSERS | {
    "datetimepicker",
    "email_text_input",
    "file_input",
    "number_input",
    "plain_text_input",
    "rich_text_input",
    "url_text_input",
}
CONTEXT_ELEMENTS = {"image", "plain_text", "mrkdwn"}
CONTEXT_ACTIONS_ELEMENTS = {"feedback_buttons", "icon_button"}
BLOCK_TYPES = {
    "actions",
    "context",
    "context_actions",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "table",
    "video",
}
MESSAGE_ONLY = {"context_actions", "markdown", "file", "table"}
MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
MARKDOWN_LIMIT = 12000
SECTION_TEXT, SECTION_FIELDS, FIELD_TEXT = 3000, 10, 2000  # a section's text and its fields
HEADER_TEXT = 150
BUTTON_TEXT, BUTTON_VALUE, BUTTON_URL = 75, 2000, 3000
CONFIRM_LIMITS = {"title": 100, "text": 300, "confirm": 30, "deny": 30}


class _Checker:
    def __init__(self, surface: str) -> None:
        self.surface = surface

    def fail(self, message: str, where: str) -> None:
        raise SlackError(
            "invalid_blocks",
            response_metadata={"messages": [f"[ERROR] {message} [json-pointer:{where}]"]},
        )

    def block(self, block: Any, where: str) -> None:
        if not isinstance(block, dict):
            self.fail("must be an object", where)
        kind = block.get("type")
        if kind not in BLOCK_TYPES or (self.surface != "message" and kind in MESSAGE_ONLY):
            self.fail(f"unsupported type: {kind}", f"{where}/type")
        if len(str(block.get("block_id") or "")) > 255:
            self.fail("must be less than 256 characters", f"{where}/block_id")
        if kind == "header":
            self.plain_text(block.get("text"), f"{where}/text", HEADER_TEXT)
        elif kind == "actions":
            self.elements(block, where, ACTIONS_ELEMENTS, 25)
        elif kind == "context":
            self.elements(block, where, CONTEXT_ELEMENTS, 10)
        elif kind == "context_actions":
            self.elements(block, where, CONTEXT_ACTIONS_ELEMENTS, 5)
        elif kind == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not text:
                self.fail("must provide a string", f"{where}/text")
            elif len(text) > MARKDOWN_LIMIT:
                self.fail(f"must be at most {MARKDOWN_LIMIT} characters", f"{where}/text")
        elif kind == "section":
            self.section(block, where)
        elif kind == "input":
            self.element(block.get("element"), f"{where}/element", INPUT_ELEMENTS)

    def section(self, block: dict[str, Any], where: str) -> None:
        text = (block.get("text") or {}).get("text") if isinstance(block.get("text"), dict) else ""
        fields = block.get("fields") or []
        if not text and not fields:
            self.fail("must provide either text or fields", where)
        if text and len(text) > SECTION_TEXT:
            self.fail(f"must be less than {SECTION_TEXT + 1} characters", f"{where}/text/text")
        if len(fields) > SECTION_FIELDS:
            self.fail(f"must provide no more than {SECTION_FIELDS} items", f"{where}/fields")
        for n, item in enumerate(fields):
            if len(str((item or {}).get("text") or "")) > FIELD_TEXT:
                self.fail(f"must be less than {FIELD_TEXT + 1} characters", f"{where}/fields/{n}")
        if "accessory" in block:
            self.element(block["accessory"], f"{where}/accessory", ACCESSORIES)

    def elements(self, block: dict[str, Any], where: str, allowed: set[str], most: int) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail("must provide at least 1 item", f"{where}/elements")
            return
        if len(elements) > most:
            self.fail(f"must provide no more than {most} items", f"{where}/elements")
        seen: set[str] = set()
        for n, element in enumerate(elements):
            self.element(element, f"{where}/elements/{n}", allowed)
            action_id = element.get("action_id")
            if action_id and action_id in seen:
                self.fail("action_id must be unique within its block", f"{where}/elements/{n}")
            seen.add(action_id or "")

    def element(self, element: Any, where: str, allowed: set[str]) -> None:
        if not isinstance(element, dict) or element.get("type") not in allowed:
            kind = element.get("type") if isinstance(element, dict) else None
            self.fail(f"unsupported type: {kind}", f"{where}/type")
            return
        if len(str(element.get("action_id") or "")) > 255:
            self.fail("must be less than 256 characters", f"{where}/action_id")
        if element["type"] == "feedback_buttons":
            for key in ("positive_button", "negative_button"):
                self.feedback_button(element.get(key), f"{where}/{key}")
        elif element["type"] == "button":
            self.button(element, where)
        if "confirm" in element:
            self.confirm(element["confirm"], f"{where}/confirm")

    def button(self, button: dict[str, Any], where: str) -> None:
        self.plain_text(button.get("text"), f"{where}/text", BUTTON_TEXT)
        for key, most in (("value", BUTTON_VALUE), ("url", BUTTON_URL)):
            if len(str(button.get(key) or "")) > most:
                self.fail(f"must be less than {most + 1} characters", f"{where}/{key}")
        if button.get("style") not in (None, "primary", "danger"):
            self.fail("must be primary or danger", f"{where}/style")

    def confirm(self, confirm: Any, where: str) -> None:
        if not isinstance(confirm, dict):
            self.fail("must provide an object", where)
            return
        for key, most in CONFIRM_LIMITS.items():
            text = confirm.get(key)
            if key == "text" and isinstance(text, dict) and text.get("type") == "mrkdwn":
                if not text.get("text") or len(text["text"]) > most:
                    self.fail(f"must be between 1 and {most} characters", f"{where}/{key}")
            elif key in ("title", "text") or text is not None:
                self.plain_text(text, f"{where}/{key}", most)

    def plain_text(self, text: Any, where: str, most: int) -> None:
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            self.fail("must be a plain_text object", where)
        elif not text.get("text") or len(text["text"]) > most:
            self.fail(f"must be between 1 and {most} characters", where)

    def feedback_button(self, button: Any, where: str) -> None:
        if not isinstance(button, dict):
            self.fail("must provide an object", where)
            return
        text = button.get("text")
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            self.fail("must be a plain_text object", f"{where}/text")
        elif not text.get("text") or len(text["text"]) > 75:
            self.fail("must be between 1 and 75 characters", f"{where}/text")
        value = button.get("value")
        if not isinstance(value, str) or not value or len(value) > 2000:
            self.fail("must be between 1 and 2000 characters", f"{where}/value")


def check_blocks(blocks: Any, *, surface: str = "message") -> list[dict[str, Any]] | None:
    """The blocks as Slack would store them, or SlackError("invalid_blocks")."""
    if blocks is None:
        return None
    checker = _Checker(surface)
    if not isinstance(blocks, list):
        checker.fail("must provide an array", "/blocks")
    if len(blocks) > MAX_BLOCKS[surface]:
        checker.fail(f"must provide no more than {MAX_BLOCKS[surface]} items", "/blocks")
    seen: set[str] = set()
    for n, block in enumerate(blocks):
        checker.block(block, f"/blocks/{n}")
        block_id = block.get("block_id")
        if block_id and block_id in seen:
            checker.fail("Block ID needs to be unique", f"/blocks/{n}/block_id")
        seen.add(block_id or "")
    return [b if b.get("block_id") else {**b, "block_id": _block_id()} for b in blocks]


def _block_id() -> str:
    return uuid.uuid4().hex[:5]
