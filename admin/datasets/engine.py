"""One pass over a dataset: read, convert, check, count and price, optionally writing it out."""

from __future__ import annotations

import codecs
import json
from array import array
from dataclasses import dataclass, field
from typing import Any

from admin.datasets.chat_checks import check_chat_example
from admin.datasets.counting import TokenCounter
from admin.datasets.detect import UNKNOWN, detect_format, normalise_format
from admin.datasets.legacy import check_pair, legacy_example, legacy_plan, pair_to_chat
from admin.datasets.output import JsonlWriter
from admin.datasets.preference import check_dpo_example
from admin.datasets.pricing import (
    default_epochs,
    is_legacy,
    price_for,
    training_context,
    training_cost,
)
from admin.datasets.readers import ReadOptions, read_examples
from admin.datasets.report import DatasetReport, Issue
from admin.datasets.sources import Progress, Source, is_binary, read_head
from admin.datasets.split import unit_key
from admin.datasets.stats import DatasetStats
from admin.tokens import encoding_for

# Called by `analyze` / `prepare` (admin/datasets/api.py); pure of Slack and OpenAI. Bad data
# ends up in the report; nothing about the input can make this raise.

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
MAX_EPOCHS = 50
_THREADS_FROM_BYTES = 1 << 20  # below this, starting threads costs more than it saves


@dataclass(frozen=True)
class Options:
    model: str = DEFAULT_MODEL
    epochs: int | None = None
    fmt: str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    progress: Progress | None = None
    held: frozenset[int] | None = None  # ordinals of the examples routed to validation
    held_out: bool = False  # a validation file: no minimum number of examples
    count_tokens: bool = True  # off for the pass that only plans a split


@dataclass
class Sinks:
    train: JsonlWriter | None = None
    validation: JsonlWriter | None = None
    units: array | None = None  # the unit key of every example that passed, in order


def run(src: Source, options: Options, report: DatasetReport, sinks: Sinks) -> list[DatasetStats]:
    """Fill `report` (and `report.validation` when splitting); return [train, validation] stats."""
    report.source_bytes = src.size
    head = read_head(src)
    if head.removeprefix(codecs.BOM_UTF8).strip() == b"" and src.size <= len(head) and head:
        report.error("no_examples", _BLANK_FILE)  # before detection: it has nothing to go by
        return []
    fmt = _choose_format(options.fmt, head, src.name, report)
    if fmt is None:
        return []
    model = options.model
    legacy = is_legacy(model)
    encoding = encoding_for(model)
    limit = training_context(model)
    report.encoding, report.training_context = encoding.name, limit
    report.output_format = "prompt_completion" if legacy else "dpo" if fmt == "dpo" else "chat"
    if legacy and fmt not in ("prompt_completion", "csv", "tsv", "xlsx", "json"):
        report.error("model_needs_prompt_completion", _LEGACY.format(model=model))
    if options.epochs is not None and not 1 <= options.epochs <= MAX_EPOCHS:
        report.error("invalid_epochs", f"Epochs must be 1 to {MAX_EPOCHS}, not {options.epochs}.")
    splitting = options.held is not None
    held_out = DatasetReport(format=report.output_format, model=model) if splitting else None
    stats = [DatasetStats(report, limit), DatasetStats(held_out or report, limit)]

    def counted(key: int, total: int, assistant: int) -> None:
        stats[key & 1].add_tokens(key >> 1, total, assistant)

    workers = 2 if src.size >= _THREADS_FROM_BYTES else 1
    counter = TokenCounter(encoding, counted, workers)
    try:
        _scan(src, fmt, options, report, held_out, stats, counter, sinks, legacy)
    finally:
        counter.close()
    stats[0].finish(require_minimum=not options.held_out)
    _price(report, options)
    if held_out is not None:
        held_out.valid_examples = held_out.examples
        stats[1].finish(require_minimum=False)
        _price(held_out, options, epochs=report.epochs)
        report.validation = held_out
    return stats


def _scan(
    src: Source,
    fmt: str,
    options: Options,
    report: DatasetReport,
    held_out: DatasetReport | None,
    stats: list[DatasetStats],
    counter: TokenCounter,
    sinks: Sinks,
    legacy: bool,
) -> None:
    system_prompt = options.read.system_prompt
    held = options.held or frozenset()
    writing = sinks.train is not None
    ordinal = -1  # of the examples that passed their checks
    errors, warnings = report.errors, report.warnings
    for line, raw, obj, kind in read_examples(src, fmt, options.read, report, options.progress):
        report.examples += 1
        errs: list[Issue] = []
        warns: list[Issue] = []
        if kind == "pair":
            if not check_pair(obj, line, errs, warns):
                errors.extend(errs)
                warnings.extend(warns)
                continue
            if not legacy:
                obj, kind, raw = pair_to_chat(obj, system_prompt), "chat", None
        if kind == "chat":
            plan = check_chat_example(obj, line, errs, warns)
        elif kind == "dpo":
            plan = check_dpo_example(obj, line, errs, warns)
        else:
            plan, obj = legacy_plan(obj), legacy_example(obj)
        if warns:
            warnings.extend(warns)
        if errs:
            errors.extend(errs)
            continue
        compact = writing or raw is None or sinks.units is not None
        payload = _compact(obj, line, report) if compact else raw
        if payload is None:
            continue
        ordinal += 1
        if sinks.units is not None:
            sinks.units.append(unit_key(payload))
        side = 0
        if ordinal in held:
            side = 1
            report.examples -= 1
            assert held_out is not None
            held_out.examples += 1
        else:
            report.valid_examples += 1
        stats[side].add_example(line, raw or payload, _system_of(obj, kind), kind != "pair")
        if options.count_tokens:
            counter.add(line << 1 | side, plan)
        if writing:
            sink = sinks.validation if side else sinks.train
            assert sink is not None
            sink.write(payload)


def _compact(obj: dict[str, Any], line: int, report: DatasetReport) -> bytes | None:
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        report.error("invalid_unicode", _SURROGATE, line)
        return None


def _system_of(obj: dict[str, Any], kind: str) -> str | None:
    messages = obj.get("messages") if kind == "chat" else (obj.get("input") or {}).get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    if isinstance(first, dict) and first.get("role") == "system":
        content = first.get("content")
        return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return None


def _choose_format(
    requested: str | None, head: bytes, name: str | None, report: DatasetReport
) -> str | None:
    if not head:
        report.error("empty_file", "The file is empty (0 bytes): there are no examples in it.")
        return None
    if requested:
        fmt = normalise_format(requested)
        if fmt is None:
            report.error("unknown_format", _FORMAT.format(fmt=requested[:40]))
            return None
    else:
        fmt = detect_format(head, name)
    if fmt != "xlsx" and is_binary(head):
        report.error("binary_file", _BINARY)
        return None
    if fmt == UNKNOWN:
        report.error("unknown_format", _UNDETECTED)
        return None
    report.format = fmt
    return fmt


def _price(report: DatasetReport, options: Options, epochs: int | None = None) -> None:
    price = price_for(options.model)
    if options.epochs is not None:
        report.epochs, report.epochs_source = options.epochs, "given"
    elif epochs is not None:
        report.epochs, report.epochs_source = epochs, "training"
    else:
        report.epochs = default_epochs(report.valid_examples)
    report.price = price.to_dict() if price else None
    report.estimated_cost_usd = training_cost(price, report.tokens.billed_per_epoch, report.epochs)
    if price is None:
        report.warn("unknown_model", _UNKNOWN_MODEL.format(model=options.model[:80]))


_LEGACY = (
    "{model} trains on prompt/completion pairs, not chat messages: pick a chat model such "
    "as gpt-4o-mini, or give prompt/completion data."
)
_SURROGATE = (
    "The text holds an unpaired surrogate escape (like \\ud800), which is not valid "
    "Unicode: fix or remove it."
)
_FORMAT = (
    "Unknown format {fmt!r}: use chat, prompt_completion, dpo, kakao_csv, kakao_txt, csv, "
    "tsv, xlsx or json."
)
_UNDETECTED = (
    "Could not tell what format this file is: name it with --format (chat, "
    "prompt_completion, dpo, kakao_csv, kakao_txt, csv, tsv, xlsx, json)."
)
_BINARY = (
    "This is a binary file, not text: give the JSONL, CSV, TSV, TXT, JSON or XLSX file "
    "itself (UTF-16 text: save it as UTF-8)."
)
_BLANK_FILE = "The file holds only blank lines: there are no examples in it."
_UNKNOWN_MODEL = "No training price is known for {model}: the cost is not estimated."
