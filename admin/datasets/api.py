"""The dataset engine's public calls: analyze, prepare, list_speakers (used by admin/ handlers)."""

from __future__ import annotations

import hashlib
import logging
import os
from array import array
from dataclasses import replace
from pathlib import Path

from admin.datasets.detect import KAKAO_TXT, detect_format, normalise_format
from admin.datasets.engine import DEFAULT_MODEL, Options, Sinks, run
from admin.datasets.output import JsonlWriter, PreparedDataset, new_output_path, validation_path
from admin.datasets.readers import ReadOptions, kakao_speakers
from admin.datasets.render import counted
from admin.datasets.report import DatasetReport
from admin.datasets.sources import Progress, Source, SourceError, read_head, resolve
from admin.datasets.split import choose_held_out
from admin.datasets.stats import MIN_EXAMPLES, DatasetStats

log = logging.getLogger(__name__)
SourceLike = bytes | str | os.PathLike[str]


def analyze(
    source: SourceLike,
    *,
    model: str = DEFAULT_MODEL,
    epochs: int | None = None,
    fmt: str | None = None,
    assistant: str | None = None,
    system_prompt: str | None = None,
    silence_minutes: int = 60,
    validation: SourceLike | None = None,
    progress: Progress | None = None,
) -> DatasetReport:
    """Detect, read, convert, check, count and price a dataset. Never raises for bad data.

    `source` is bytes (the content), a path, or a str: a path if such a file exists or the
    text looks like one, else the content itself. `system_prompt` is used by conversions
    (KakaoTalk, prompt/completion, tables); chat data keeps its own.
    """
    options = _options(model, epochs, fmt, assistant, system_prompt, silence_minutes, progress)
    report, stats = _guarded(source, options, Sinks())
    if validation is not None:
        held_out = replace(options, progress=None, held_out=True)
        _attach_validation(report, stats, validation, held_out, None)
    return report


def prepare(
    source: SourceLike,
    *,
    model: str = DEFAULT_MODEL,
    epochs: int | None = None,
    fmt: str | None = None,
    assistant: str | None = None,
    system_prompt: str | None = None,
    silence_minutes: int = 60,
    validation: SourceLike | None = None,
    progress: Progress | None = None,
    validation_split: float = 0.0,
    output: str | os.PathLike[str] | None = None,
) -> PreparedDataset:
    """`analyze`, and write the normalised JSONL (to `output`, or a temp file).

    Bad data never raises; an `output` that cannot be written raises OSError.

    Only examples that passed their checks are written; upload only if `report.valid`.
    With `validation_split` > 0, exactly round(share x examples) of the examples that pass
    (see `split.held_out_count`) go to `<output stem>.validation.jsonl`, chosen from the
    source's sha256 so the same file always splits the same way. That takes a first,
    token-free pass over the source to learn which examples pass.
    """
    options = _options(model, epochs, fmt, assistant, system_prompt, silence_minutes, progress)
    path, temporary = new_output_path(output)
    split = validation_split if 0 < validation_split < 1 else 0.0
    chosen = _plan_split(source, options, split) if split and validation is None else None
    sinks = Sinks(JsonlWriter(path), JsonlWriter(validation_path(path)) if chosen else None)
    report, stats = _guarded(source, replace(options, held=chosen or None), sinks)
    assert sinks.train is not None
    report.sha256 = sinks.train.close()
    if validation_split and not split:
        report.error("invalid_validation_split", _SPLIT.format(v=validation_split))
    if split and validation is not None:
        report.error("invalid_validation_split", _BOTH)
    elif chosen is not None and not chosen and report.valid_examples:
        too_few = _TOO_FEW_TO_SPLIT.format(
            n=counted(report.valid_examples, "example"), min=MIN_EXAMPLES
        )
        report.warn("nothing_held_out", too_few)
    prepared = PreparedDataset(
        report, path, report.sha256, sinks.train.count, None, report.speakers, temporary
    )
    if sinks.validation is not None:
        # Closed and returned even when reading failed early, so cleanup() finds the file.
        held = report.validation or DatasetReport(format=report.format, model=report.model)
        report.validation, held.sha256 = held, sinks.validation.close()
        prepared.validation = PreparedDataset(
            held, sinks.validation.path, held.sha256, sinks.validation.count, temporary=temporary
        )
    elif validation is not None:
        prepared.validation = _attach_validation(
            report,
            stats,
            validation,
            replace(options, progress=None, held_out=True),
            validation_path(path),
            temporary,
        )
    return prepared


def _plan_split(source: SourceLike, options: Options, share: float) -> frozenset[int]:
    """A first pass that only learns which examples pass, then picks the held-out ones."""
    units: array = array("q")
    plan = replace(options, progress=None, count_tokens=False)
    report, _ = _guarded(source, plan, Sinks(units=units))
    return choose_held_out(units, share, seed=report.source_sha256 or "")


def list_speakers(source: SourceLike, *, fmt: str | None = None) -> list[tuple[str, int]]:
    """Speakers of a KakaoTalk export, most messages first; [] for other or unreadable files."""
    try:
        src = resolve(source)
        name = normalise_format(fmt) if fmt else detect_format(read_head(src), src.name)
        if name is None or not (name.startswith("kakao") or name in KAKAO_TXT):
            return []
        return kakao_speakers(src, name)
    except (SourceError, OSError, ValueError):
        return []


def _options(
    model: str,
    epochs: int | None,
    fmt: str | None,
    assistant: str | None,
    system_prompt: str | None,
    silence_minutes: int,
    progress: Progress | None,
) -> Options:
    read = ReadOptions(assistant, system_prompt, max(1, int(silence_minutes)))
    return Options(
        model=model or DEFAULT_MODEL, epochs=epochs, fmt=fmt, read=read, progress=progress
    )


def _guarded(
    source: SourceLike, options: Options, sinks: Sinks
) -> tuple[DatasetReport, DatasetStats | None]:
    report = DatasetReport(format="unknown", model=options.model)
    try:
        src = resolve(source)
    except SourceError as exc:
        report.error("unreadable", f"{exc}: check the file name and permissions.")
        return report, None
    try:
        stats = run(src, options, report, sinks)
        report.source_sha256 = _sha256(src)
    except Exception:  # the report is the contract: a bug must not become a crash upstream
        log.exception("dataset analysis failed")
        report.error("internal_error", _INTERNAL)
        return report, None
    return report, stats[0] if stats else None


def _attach_validation(
    report: DatasetReport,
    stats: DatasetStats | None,
    validation: SourceLike,
    options: Options,
    output: Path | None,
    temporary: bool = False,
) -> PreparedDataset | None:
    """Check a separate validation file and warn about examples it shares with training."""
    sinks = Sinks(JsonlWriter(output) if output else None)
    held, held_stats = _guarded(validation, options, sinks)
    report.validation = held
    if stats is not None and held_stats is not None:
        for line in stats.overlap(held_stats):
            report.warn("train_validation_overlap", _OVERLAP.format(line=line))
    if sinks.train is None:
        return None
    held.sha256 = sinks.train.close()
    return PreparedDataset(
        held, sinks.train.path, held.sha256, sinks.train.count, temporary=temporary
    )


def _sha256(src: Source) -> str:
    if src.data is not None:
        return hashlib.sha256(src.data).hexdigest()
    assert src.path is not None
    with src.path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


_SPLIT = "validation_split must be between 0 and 1 (exclusive), not {v}."
_BOTH = "Give either a validation file or a validation split, not both."
_TOO_FEW_TO_SPLIT = (
    "{n}: too few to hold any out for validation and keep {min} for training, so "
    "nothing was held out."
)
_OVERLAP = "Validation line {line} is also in the training data: validation should be unseen."
_INTERNAL = "The dataset could not be analysed because of an internal error; it has been logged."
