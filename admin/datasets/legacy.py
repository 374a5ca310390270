"""Prompt/completion pairs: checks for davinci-002/babbage-002, conversion to chat for the rest."""

from __future__ import annotations

from typing import Any

from admin.datasets.chat_checks import special_token_in
from admin.datasets.report import Issue
from admin.datasets.token_plan import ASSISTANT, TokenPlan

PAIR_KEYS = frozenset({"prompt", "completion"})
# Conventions of the legacy guide: a fixed separator ends each prompt, completions start
# with a space and end with a stop sequence. Chat messages need none of them.
_PROMPT_SEPARATORS = ("\n\n###\n\n", "\n###\n", "###", "->")
_STOP_SEQUENCES = (" END", "\n###", "###")


def check_pair(pair: Any, line: int, errors: list[Issue], warnings: list[Issue]) -> bool:
    """True when `pair` has a string prompt and a non-empty string completion."""
    ok = True
    for key in ("prompt", "completion"):
        value = pair.get(key)
        if not isinstance(value, str):
            got = "nothing" if value is None else f"a {type(value).__name__}"
            errors.append(Issue(f"missing_{key}", _MISSING.format(key=key, got=got), line))
            ok = False
        elif (token := special_token_in(value)) is not None:
            errors.append(Issue("special_token", _SPECIAL.format(key=key, t=token), line))
            ok = False
    if ok and not pair["completion"].strip():
        errors.append(Issue("missing_completion", _EMPTY, line))
        ok = False
    extra = [str(k)[:30] for k in pair if k not in PAIR_KEYS and k != "system"]
    if extra:
        warnings.append(Issue("unknown_key", _EXTRA.format(keys=", ".join(sorted(extra))), line))
    return ok


def legacy_plan(pair: dict[str, Any]) -> TokenPlan:
    """Legacy models read prompt + completion as plain text: no per-message tokens."""
    return TokenPlan(fixed=0, texts=[(pair["prompt"], 0), (pair["completion"], ASSISTANT)])


def legacy_example(pair: dict[str, Any]) -> dict[str, str]:
    return {"prompt": pair["prompt"], "completion": pair["completion"]}


def pair_to_chat(pair: dict[str, Any], system_prompt: str | None) -> dict[str, Any]:
    """One user turn and one assistant reply, with the legacy separators taken off."""
    prompt, completion = pair["prompt"].strip(), pair["completion"].strip()
    for separator in _PROMPT_SEPARATORS:
        if prompt.endswith(separator):
            prompt = prompt[: -len(separator)].rstrip()
            break
    for stop in _STOP_SEQUENCES:
        if completion.endswith(stop):
            completion = completion[: -len(stop)].rstrip()
            break
    system = pair.get("system") if isinstance(pair.get("system"), str) else system_prompt
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    return {"messages": messages}


_MISSING = '"{key}" must be a string, found {got}: every line needs a prompt and a completion.'
_SPECIAL = "The {key} contains the reserved token {t}, which fine-tuning refuses: remove it."
_EMPTY = "The completion is empty: give the text the model should learn to produce."
_EXTRA = "Unknown key(s) {keys}: only prompt and completion are used."
