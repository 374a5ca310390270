"""key=value options as admins type them in Slack (`model=gpt-4.1-mini epochs=3 system="..."`).

Every set of options is a pydantic model (`Options`): its fields are the keys, their types,
bounds, defaults and descriptions are the one declaration that validation, usage errors and
help text come from. The same models give `argparse` its types (`argument_type`).
"""

from __future__ import annotations

import argparse
import re
import shlex
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from admin.errors import TunebotError

M = TypeVar("M", bound="Options")


class UsageError(TunebotError):
    """The command or its options are wrong; the message names the word at fault."""


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# For a choice (a Literal field): `method=DPO` is `dpo`.
Lowercase = BeforeValidator(_lower)


@dataclass(frozen=True)
class Expects:
    """What a value must be, in the words of an error, where its type alone does not say."""

    text: str


class Options(BaseModel):
    """A set of `key=value` options: one field per key, named as admins type it.

    A field's alias, where it has one, is the name the value travels under (a provider's API
    field, a stored column); values validate by either name.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        validate_by_name=True,
        validate_by_alias=True,
        loc_by_alias=False,
        str_strip_whitespace=True,
    )

    @classmethod
    def option_names(cls) -> list[str]:
        return list(cls.model_fields)

    @classmethod
    def help_lines(cls) -> list[str]:
        return [describe(key, field) for key, field in cls.model_fields.items()]


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_words(text: str, *, keyed: bool = True) -> tuple[list[str], dict[str, str]]:
    """Bare words and `key=value` pairs (keys lower-cased), as typed; nothing validated yet.

    A word is a pair only when what comes before its `=` is one word (`epochs=3`), so quoted
    text such as `"set x=1 first"` stays text. Without `keyed`, every word is text."""
    try:
        words = shlex.split(_straight_quotes(text))
    except ValueError as error:
        raise UsageError(f"Could not read the options: {error}.") from None
    bare: list[str] = []
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, raw = word.partition("=")
        if sep and keyed and _KEY.fullmatch(key.strip()):
            pairs[key.strip().lower()] = raw
        else:
            bare.append(word)
    return bare, pairs


def read_options(
    pairs: Mapping[str, str], model: type[M], *, owner: str = "", also: Sequence[str] = ()
) -> M:
    """`pairs` validated by `model`; UsageError names the key at fault and what it expects.

    `also` are keys the caller reads itself (`provider=`), listed among the known ones.
    """
    known = [*also, *model.option_names()]
    for key in pairs:
        if key not in model.model_fields and key not in also:
            names = ", ".join(f"`{k}=`" for k in known)
            if owner:
                raise UsageError(f"{owner} does not take `{key}=`. It takes: {names}.")
            raise UsageError(f"Unknown option `{key}=`. Known options: {names}.")
    given = {k: v for k, v in pairs.items() if k in model.model_fields}
    try:
        return model.model_validate(given)
    except ValidationError as failure:
        raise UsageError(_explain(failure, model, given)) from None


def parse_options(text: str, model: type[M], *, owner: str = "") -> tuple[list[str], M]:
    """Split `text` into bare words and `model`'s options; UsageError names what is wrong."""
    bare, pairs = split_words(text)
    return bare, read_options(pairs, model, owner=owner)


def _explain(failure: ValidationError, model: type[Options], given: Mapping[str, str]) -> str:
    problems = []
    for error in failure.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        field = model.model_fields.get(key)
        if field is None:  # a rule across options: its message is written for the user
            problems.append(str(error.get("ctx", {}).get("error") or error["msg"]))
        elif error["type"] == "missing":
            problems.append(f"`{key}=` is needed: {expected(field)}.")
        else:
            problems.append(f"`{key}=` expects {expected(field)}, got `{given.get(key, '')}`.")
    return " ".join(dict.fromkeys(problems))


def argument_type(model: type[Options], key: str) -> Callable[[str], Any]:
    """An argparse `type=` that validates one option as `model` declares it."""
    field = model.model_fields[key]
    declared: Any = Annotated[field.annotation, *field.metadata]
    adapter: TypeAdapter[Any] = TypeAdapter(
        declared, config=ConfigDict(allow_inf_nan=False, str_strip_whitespace=True)
    )

    def convert(raw: str) -> Any:
        try:
            return adapter.validate_python(raw.strip())
        except ValidationError:
            # argparse turns this into "error: argument --x: ..." and exit status 2.
            raise argparse.ArgumentTypeError(f"expects {expected(field)}, got {raw!r}") from None

    return convert


# -- what a field takes, in words ---------------------------------------------------------------


def expected(field: FieldInfo) -> str:
    """What a value must be, in the words of a usage error: `a whole number at least 1`."""
    kind, metadata = unwrap(field.annotation, list(field.metadata))
    said = next((m.text for m in metadata if isinstance(m, Expects)), None)
    if said:
        return said
    if get_origin(kind) is Literal:
        return " or ".join(f"`{choice}`" for choice in get_args(kind))
    what = {int: "a whole number", float: "a number", datetime: "a date such as 2026-11-01"}
    words = what.get(kind) or ("a date such as 2026-11-01" if kind is date else "text")
    bounds = []
    for rule in metadata:
        if isinstance(rule, annotated_types.Gt):
            bounds.append(f"above {rule.gt:g}")
        elif isinstance(rule, annotated_types.Ge):
            bounds.append(f"at least {rule.ge:g}")
        elif isinstance(rule, annotated_types.Lt):
            bounds.append(f"below {rule.lt:g}")
        elif isinstance(rule, annotated_types.Le):
            bounds.append(f"at most {rule.le:g}")
        elif isinstance(rule, annotated_types.MaxLen):
            bounds.append(f"up to {rule.max_length} characters")
    return words + (" " + " and ".join(bounds) if bounds else "")


def describe(key: str, field: FieldInfo) -> str:
    """One line of help: `` `epochs=` epochs, 1 or more (default 3) ``."""
    default = field.get_default(call_default_factory=True)
    shown = f"{default:g}" if isinstance(default, float) else default
    suffix = f" (default {shown})" if default not in (None, "") else ""
    return f"`{key}=` {field.description or expected(field)}{suffix}"


def unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """`Annotated[int, Ge(1)] | None` -> (int, [Ge(1)]): the type and every rule on it."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            metadata = [*metadata, *extra]
        elif origin in (Union, types.UnionType):
            kept = [a for a in get_args(annotation) if a is not type(None)]
            if len(kept) != 1:
                return annotation, metadata
            annotation = kept[0]
        else:
            return annotation, _flatten(metadata)


def _flatten(metadata: Iterable[Any]) -> list[Any]:
    # `Field(ge=1)` inside Annotated arrives as FieldInfo with its own metadata.
    found: list[Any] = []
    for item in metadata:
        found += list(item.metadata) if isinstance(item, FieldInfo) else [item]
    return found


def _straight_quotes(text: str) -> str:
    # Slack's clients turn typed quotes into curly ones.
    return text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
