"""key=value options as admins type them in Slack (`model=gpt-4.1-mini epochs=3 system="..."`)."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from typing import Any

from admin.errors import TunebotError


class UsageError(TunebotError):
    """The command or its options are wrong; the message names the word at fault."""


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError
    return value


def fraction(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < 1:
        raise ValueError
    return value


def parse_options(
    text: str,
    fields: Mapping[str, tuple[Callable[[str], Any], str]],
    *,
    owner: str = "",
    keyed: bool = True,
) -> tuple[list[str], dict[str, Any]]:
    """Split `text` into bare words and typed key=value options.

    `fields` maps a key to (parser, what is expected); an unknown key or a bad value raises
    UsageError naming it (and, with `owner`, saying whose options these are). Without
    `keyed`, every word is bare: free text whose "=" means nothing.
    """
    try:
        words = shlex.split(_straight_quotes(text))
    except ValueError as error:
        raise UsageError(f"Could not read the options: {error}.") from None
    bare: list[str] = []
    options: dict[str, Any] = {}
    for word in words:
        key, sep, raw = word.partition("=")
        if not sep or not keyed:
            bare.append(word)
            continue
        key = key.strip().lower()
        if key not in fields:
            known = ", ".join(f"`{k}=`" for k in fields)
            if owner:
                raise UsageError(f"{owner} does not take `{key}=`. It takes: {known}.")
            raise UsageError(f"Unknown option `{key}=`. Known options: {known}.")
        parse, expected = fields[key]
        try:
            options[key] = parse(raw)
        except ValueError:
            raise UsageError(f"`{key}=` expects {expected}, got `{raw}`.") from None
    return bare, options


def _straight_quotes(text: str) -> str:
    # Slack's clients turn typed quotes into curly ones.
    return text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
