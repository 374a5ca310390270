"""Checks of DPO (preference) examples: `input.messages`, one preferred and one other reply."""

from __future__ import annotations

from typing import Any

from admin.datasets.chat_checks import check_messages, check_tools
from admin.datasets.report import Issue
from admin.datasets.token_plan import TokenPlan

DPO_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})


def check_dpo_example(
    example: dict[str, Any], line: int, errors: list[Issue], warnings: list[Issue]
) -> TokenPlan:
    """Errors and warnings of one preference example, and its token plan.

    Both replies are read with the prompt during training, so the plan counts the prompt
    messages once and each reply as one more message: an estimate, as the service does not
    publish how it bills preference data.
    """
    plan = TokenPlan()
    prompt = example.get("input")
    if not isinstance(prompt, dict):
        errors.append(Issue("missing_input", _INPUT, line))
    else:
        messages = prompt.get("messages")
        check_messages(messages, line, errors, plan, where="input.messages")
        check_tools(prompt, line, errors)
        last = messages[-1] if isinstance(messages, list) and messages else None
        if isinstance(last, dict) and last.get("role") != "user":
            warnings.append(Issue("dpo_input_not_ending_with_user", _LAST, line))
    for key in ("preferred_output", "non_preferred_output"):
        reply = example.get(key)
        if not _one_assistant_message(reply):
            errors.append(Issue(f"invalid_{key}", _OUTPUT.format(key=key), line))
            continue
        check_messages(reply, line, errors, plan, where=key)
    if _one_assistant_message(example.get("preferred_output")) and example.get(
        "preferred_output"
    ) == example.get("non_preferred_output"):
        errors.append(Issue("identical_outputs", _SAME, line))
    extra = [str(k)[:30] for k in example if k not in DPO_KEYS]
    if extra:
        warnings.append(Issue("unknown_key", _EXTRA.format(keys=", ".join(sorted(extra))), line))
    return plan


def _one_assistant_message(reply: Any) -> bool:
    return (
        isinstance(reply, list)
        and len(reply) == 1
        and isinstance(reply[0], dict)
        and reply[0].get("role") == "assistant"
    )


_INPUT = 'No "input" object: give the prompt as {"input": {"messages": [...]}}.'
_LAST = "input.messages should end with the user turn the two replies answer."
_OUTPUT = '"{key}" must be a list with exactly one assistant message.'
_SAME = "The preferred and non-preferred replies are identical, so there is nothing to learn."
_EXTRA = "Unknown key(s) {keys}: only input, preferred_output and non_preferred_output are used."
