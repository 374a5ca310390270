"""Per-example checks of chat fine-tuning data, and the token plan the counter needs."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from admin.datasets.report import Issue
from admin.datasets.token_plan import ASSISTANT, REPEATED, SHORT, TokenPlan, add_message_plan

# The cookbook's checks, without its gaps: `weight` must be 0 or 1 and only on assistant
# messages, an example needs an assistant message that is actually trained on, tool calls
# replace content only on assistant messages, and reserved special tokens are refused.

ROLES = ("system", "user", "assistant", "tool", "function")
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "function_call", "tool_call_id"}
)
EXAMPLE_KEYS = frozenset({"messages", "tools", "functions", "parallel_tool_calls"})
# Every special token of cl100k_base and o200k_base. The fine-tuning service refuses them in
# training text; tiktoken's `encode` would raise on them.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|endofprompt|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|im_sep|>",
)
_SPECIAL = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))


def special_token_in(text: str) -> str | None:
    if "<|" not in text:
        return None
    m = _SPECIAL.search(text)
    return m.group(0) if m else None


def check_chat_example(
    example: dict[str, Any], line: int, errors: list[Issue], warnings: list[Issue]
) -> TokenPlan:
    """Errors and warnings of one chat example; returns what its tokens are made of."""
    plan = TokenPlan()
    messages = example.get("messages")
    seen = check_messages(messages, line, errors, plan)
    if seen.length:
        if not seen.assistants:
            errors.append(Issue("missing_assistant_message", _NO_ASSISTANT, line))
        elif not seen.trained:
            errors.append(Issue("no_trained_assistant_message", _NO_TRAINED, line))
        elif seen.last_role != "assistant":
            warnings.append(Issue("ends_without_assistant", _ENDS, line, seen.length - 1))
    if len(example) > 1:
        check_tools(example, line, errors)
        if not EXAMPLE_KEYS.issuperset(example):
            extra = ", ".join(sorted(str(k)[:30] for k in example if k not in EXAMPLE_KEYS))
            warnings.append(Issue("unknown_key", _EXAMPLE_KEY.format(keys=extra), line))
    return plan


class Seen(NamedTuple):
    length: int  # messages in a non-empty list (0: no usable list)
    assistants: int
    trained: int  # assistant messages trained on (weight absent or 1)
    last_role: Any


# The common message, {"role": ..., "content": "text"}, is checked in a few C-level calls:
# validation of large files is dominated by this loop and by token counting.
_PLAIN_KEYS = frozenset({"role", "content"})
_PLAIN_FLAGS = {"system": REPEATED, "user": 0, "assistant": ASSISTANT}


def check_messages(
    messages: Any, line: int, issues: list[Issue], plan: TokenPlan, *, where: str = "messages"
) -> Seen:
    """Check a message list and add its tokens to `plan`."""
    if not isinstance(messages, list) or not messages:
        issues.append(Issue("missing_messages", _MISSING_MESSAGES.format(where=where), line))
        return Seen(0, 0, 0, None)
    assistants = trained = 0
    append = plan.texts.append
    role: Any = None
    for index, message in enumerate(messages):
        if type(message) is dict and message.keys() == _PLAIN_KEYS:
            role, content = message["role"], message["content"]
            flags = _PLAIN_FLAGS.get(role) if type(role) is str else None
            if flags is not None and type(content) is str and content and "<|" not in content:
                plan.fixed += 3
                append((role, REPEATED))
                append((content, flags | REPEATED if len(content) < SHORT else flags))
                assistants += flags & ASSISTANT
                trained += flags & ASSISTANT
                continue
        if not isinstance(message, dict):
            issues.append(Issue("message_not_object", _NOT_OBJECT, line, index))
            role = None
            continue
        role = message.get("role")
        assistants += role == "assistant"
        trained += _check_message(message, line, index, issues)
        add_message_plan(plan, message)
    return Seen(len(messages), assistants, trained, role)


def _check_message(message: dict[str, Any], line: int, index: int, issues: list[Issue]) -> int:
    role = message.get("role")
    if role is None:
        issues.append(Issue("missing_role", _MISSING_ROLE, line, index))
    elif role not in ROLES:
        issues.append(Issue("unrecognized_role", _ROLE.format(role=str(role)[:40]), line, index))
    if not MESSAGE_KEYS.issuperset(message):
        extra = ", ".join(sorted(str(k)[:30] for k in message if k not in MESSAGE_KEYS))
        issues.append(Issue("message_unrecognized_key", _KEY.format(keys=extra), line, index))
    _check_content(message, role, line, index, issues)
    name = message.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        issues.append(Issue("invalid_name", _NAME, line, index))
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        issues.append(Issue("missing_tool_call_id", _TOOL_ID, line, index))
    if "tool_calls" in message and not _valid_tool_calls(message["tool_calls"], role):
        issues.append(Issue("invalid_tool_calls", _TOOL_CALLS, line, index))
    if "weight" not in message:
        return int(role == "assistant")
    weight = message["weight"]
    if role != "assistant":
        issues.append(Issue("weight_not_on_assistant", _WEIGHT_ROLE, line, index))
    elif type(weight) is not int or weight not in (0, 1):
        issues.append(Issue("invalid_weight", _WEIGHT.format(w=str(weight)[:20]), line, index))
        return 1  # already an error; "nothing is trained" would only repeat it
    return int(role == "assistant" and weight == 1)


def _check_content(
    message: dict[str, Any], role: Any, line: int, index: int, issues: list[Issue]
) -> None:
    content = message.get("content")
    calls = role == "assistant" and (message.get("tool_calls") or message.get("function_call"))
    if isinstance(content, str):
        if not content and not calls:
            issues.append(Issue("missing_content", _EMPTY, line, index))
        elif (token := special_token_in(content)) is not None:
            issues.append(Issue("special_token", _SPECIAL_MSG.format(t=token), line, index))
    elif content is None:
        if not calls:
            issues.append(Issue("missing_content", _EMPTY, line, index))
    elif isinstance(content, list) and content:  # content parts
        for part in content:
            text = part.get("text") if isinstance(part, dict) else None
            kind = part.get("type") if isinstance(part, dict) else None
            if not (kind == "text" and isinstance(text, str)) and kind != "image_url":
                issues.append(Issue("invalid_content_part", _PART, line, index))
                return
            if isinstance(text, str) and (token := special_token_in(text)) is not None:
                issues.append(Issue("special_token", _SPECIAL_MSG.format(t=token), line, index))
    else:
        kind = _JSON_TYPES.get(type(content), "an object")
        issues.append(Issue("invalid_content_type", _CONTENT.format(kind=kind), line, index))


def _valid_tool_calls(calls: Any, role: Any) -> bool:
    if role != "assistant" or not isinstance(calls, list) or not calls:
        return False
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return False
        if not isinstance(function.get("arguments", ""), str):
            return False
    return True


def check_tools(example: dict[str, Any], line: int, issues: list[Issue]) -> None:
    for key in ("tools", "functions"):
        if key not in example:
            continue
        items = example[key]
        if not isinstance(items, list) or not all(_tool_name(t, key) for t in items):
            issues.append(Issue("invalid_tools", _TOOLS.format(key=key), line))


def _tool_name(tool: Any, key: str) -> bool:
    if not isinstance(tool, dict):
        return False
    spec = tool.get("function") if key == "tools" else tool
    return isinstance(spec, dict) and isinstance(spec.get("name"), str)


_MISSING_MESSAGES = (
    "No `{where}` list, or it is empty: give the conversation as a list of messages."
)
_NOT_OBJECT = 'Message is not an object: write it as {"role": ..., "content": ...}.'
_MISSING_ROLE = 'Message has no "role": add one of system, user, assistant, tool.'
_ROLE = (
    "Role {role!r} is not one of system, user, assistant, tool, function; use 'assistant' "
    "for the model's replies and 'user' for everyone else."
)
_KEY = (
    "Unknown message key(s) {keys}: allowed are role, content, name, weight, tool_calls, "
    "tool_call_id."
)
_EMPTY = (
    "Message has no content: give it text (only assistant messages with tool_calls may omit it)."
)
_JSON_TYPES = {int: "a number", float: "a number", bool: "true/false", list: "an empty list"}
_CONTENT = "Content is {kind}: it must be a string or a list of content parts."
_PART = 'A content part is not {"type": "text", "text": "..."} or an image_url part.'
_NAME = '"name" must be a non-empty string.'
_TOOL_ID = 'A tool message needs the "tool_call_id" of the assistant tool call it answers.'
_TOOL_CALLS = (
    '"tool_calls" must be a non-empty list of {"id", "type": "function", "function": '
    '{"name", "arguments"}} on an assistant message.'
)
_WEIGHT_ROLE = '"weight" is only allowed on assistant messages: remove it here.'
_WEIGHT = '"weight" is {w}: it must be 0 (do not train on this reply) or 1 (train on it).'
_SPECIAL_MSG = "Contains the reserved token {t}, which fine-tuning refuses: remove or reword it."
_TOOLS = '"{key}" must be a list of function definitions, each with a "name".'
_NO_ASSISTANT = "No assistant message: add the reply the model should learn."
_NO_TRAINED = (
    'Every assistant message has "weight": 0, so nothing is trained: set weight 1 on at least one.'
)
_ENDS = "The example ends after the last assistant reply; the messages after it are not trained on."
_EXAMPLE_KEY = "Unknown key(s) {keys} next to messages; the fine-tuning service may refuse them."
