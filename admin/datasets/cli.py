"""`tunebot dataset validate|convert`: the dataset engine on the command line."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from admin.datasets.api import analyze, prepare
from admin.datasets.engine import DEFAULT_MODEL, MAX_EPOCHS
from admin.datasets.options import FORMATS_HELP, DatasetOptions
from admin.datasets.output import PreparedDataset, validation_path
from admin.datasets.progress import ProgressBar
from admin.datasets.render import counted, render_report_text
from admin.datasets.report import DatasetReport
from admin.options import argument_type

# The lead's `tunebot` entry point calls `add_dataset_commands(subparsers)`; each command sets
# `func(args) -> int`: 0 valid, 1 invalid, 2 usage or I/O error. Also runnable on its own as
# `python -m admin.datasets.cli dataset validate FILE`.

OK, INVALID, USAGE = 0, 1, 2
PROGRESS_FROM_BYTES = 20_000_000  # bigger files show progress even when stderr is not a tty
_FORMAT_HELP = f"input format (default: detected): {FORMATS_HELP}"
SILENCE = DatasetOptions.model_fields["silence"]


def add_dataset_commands(subparsers: argparse._SubParsersAction) -> None:
    dataset = subparsers.add_parser("dataset", help="check and convert fine-tuning data")
    commands = dataset.add_subparsers(dest="dataset_command", metavar="COMMAND", required=True)

    validate = commands.add_parser(
        "validate",
        help="check a dataset, count its tokens and estimate the training cost",
        description="Exit status: 0 valid, 1 invalid, 2 usage or I/O error.",
    )
    _common(validate)
    validate.add_argument(
        "--epochs",
        type=argument_type(DatasetOptions, "epochs"),
        help=f"epochs to price, 1 to {MAX_EPOCHS} (default: the rule)",
    )
    validate.add_argument("--validation", metavar="FILE", help="a validation file to check too")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.set_defaults(func=run_validate)

    convert = commands.add_parser(
        "convert",
        help="write the dataset as normalised chat JSONL, ready to upload",
        description="Writes every example that converts and passes its checks, then prints "
        "the validation report; `validate` is the gate. With --validation-split, exactly "
        "that share of the examples goes to OUT.validation.jsonl next to OUT.jsonl, the "
        "same ones every run. Exit status: 0 examples written (even if the report has "
        "errors), 1 nothing could be converted (nothing is written), 2 usage or I/O error.",
    )
    _common(convert)
    convert.add_argument("-o", "--output", required=True, metavar="OUT.jsonl")
    convert.add_argument(
        "--validation-split",
        type=argument_type(DatasetOptions, "split"),
        metavar="SHARE",
        help="share of examples held out for validation, between 0 and 1, e.g. 0.1",
    )
    convert.add_argument("--json", action="store_true", help="print the report as JSON")
    convert.set_defaults(func=run_convert)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE")
    parser.add_argument(
        "--model", help=f"base model (default: $TUNEBOT_BASE_MODEL, else {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--format",
        dest="fmt",
        type=argument_type(DatasetOptions, "format"),
        metavar="F",
        help=_FORMAT_HELP,
    )
    parser.add_argument("--assistant", metavar="NAME", help="KakaoTalk: whose replies to learn")
    parser.add_argument("--system", metavar="TEXT", help="system prompt for converted data")
    parser.add_argument(
        "--silence-minutes",
        type=argument_type(DatasetOptions, "silence"),
        default=SILENCE.default,
        metavar="N",
        help="KakaoTalk: a silence this long starts a new conversation "
        f"(default {SILENCE.default})",
    )


def _model(args: argparse.Namespace) -> str:
    # The same default as the Slack path: TUNEBOT_BASE_MODEL, read where the command starts.
    return args.model or os.environ.get("TUNEBOT_BASE_MODEL", "").strip() or DEFAULT_MODEL


def run_validate(args: argparse.Namespace) -> int:
    for name in (args.file, args.validation):
        if name is not None and (problem := _unreadable(name)):
            return _usage(problem)
    bar = _progress_bar(args.file)
    try:
        report = analyze(
            args.file,
            model=_model(args),
            epochs=args.epochs,
            fmt=args.fmt,
            assistant=args.assistant,
            system_prompt=args.system,
            silence_minutes=args.silence_minutes,
            validation=args.validation,
            progress=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    _print_report(report, args.json)
    return (
        OK if report.valid and (report.validation is None or report.validation.valid) else INVALID
    )


def run_convert(args: argparse.Namespace) -> int:
    if problem := _unreadable(args.file):
        return _usage(problem)
    out = Path(args.output)
    if not out.parent.is_dir():
        return _usage(f"cannot write {out}: {out.parent} is not a directory")
    try:
        # Written next to OUT first, then renamed into place: both files are created the
        # same way (same permissions), and a failed run leaves the old files untouched.
        work = Path(tempfile.mkdtemp(prefix=".tunebot-convert-", dir=out.parent))
    except OSError as exc:
        return _usage(f"cannot write {out}: {exc.strerror or exc}")
    bar = _progress_bar(args.file)
    try:
        prepared = prepare(
            args.file,
            model=_model(args),
            fmt=args.fmt,
            assistant=args.assistant,
            system_prompt=args.system,
            silence_minutes=args.silence_minutes,
            validation_split=args.validation_split or 0.0,
            progress=bar,
            output=work / out.name,
        )
        if bar is not None:
            bar.close()
            bar = None
        if prepared.examples:
            _put_in_place(prepared, out)
        else:
            print(f"Nothing written to {out}: no example could be converted.", file=sys.stderr)
    except OSError as exc:
        return _usage(f"cannot write {out}: {exc.strerror or exc}")
    finally:
        if bar is not None:
            bar.close()
        shutil.rmtree(work, ignore_errors=True)
    _print_report(prepared.report, args.json)
    return OK if prepared.examples else INVALID


def _put_in_place(prepared: PreparedDataset, out: Path) -> None:
    held, held_target = prepared.validation, validation_path(out)
    report, written = prepared.report, prepared.examples
    os.replace(prepared.jsonl_path, out)
    # The report counts every example read; only those that passed their checks are written.
    held_out = held.examples if held is not None else 0
    read = report.examples + held_out
    wrote = f"{written:,} of {counted(read, 'example')}" if written + held_out < read else None
    print(f"Wrote {wrote or counted(written, 'example')} to {out}", file=sys.stderr)
    if held is not None:
        os.replace(held.jsonl_path, held_target)
        print(f"Wrote {counted(held_out, 'validation example')} to {held_target}", file=sys.stderr)
    elif held_target.exists():
        held_target.unlink()  # an earlier run's split would not match this training file
        print(f"Removed {held_target}, left from an earlier run", file=sys.stderr)
    if left_out := left_out_lines(report):
        print(f"Not written (errors, see the report below): {left_out}", file=sys.stderr)
    if not report.valid:
        print(
            "The report below has errors: fix them, then `tunebot dataset validate` the file.",
            file=sys.stderr,
        )


def left_out_lines(report: DatasetReport, shown: int = 5) -> str:
    """`line 10 (missing_assistant_message), line 11 (missing_content)`: the first source
    lines whose errors kept them out of the output; "" when there are none."""
    codes: dict[int, list[str]] = {}
    for issue in report.errors.sorted():
        if issue.line is not None and issue.code not in codes.setdefault(issue.line, []):
            codes[issue.line].append(issue.code)
    # Issues past the ones a report lists one by one (LISTED_PER_CODE) are counted, not kept.
    listed = Counter(i.code for i in report.errors.listed if i.line is not None)
    unlisted = sum(report.errors.counts[code] - n for code, n in listed.items())
    more = max(0, len(codes) - shown) + unlisted
    lines = [f"line {line} ({', '.join(found)})" for line, found in list(codes.items())[:shown]]
    return ", ".join(lines) + (f" and {counted(more, 'more line')}" if more > 0 else "")


def _unreadable(name: str) -> str | None:
    if not os.path.exists(name):
        return f"cannot read {name}: no such file"
    if not os.path.isfile(name):
        return f"cannot read {name}: not a file"
    if not os.access(name, os.R_OK):
        return f"cannot read {name}: permission denied"
    return None


def _usage(problem: str) -> int:
    print(f"tunebot dataset: {problem}", file=sys.stderr)
    return USAGE


def _progress_bar(name: str) -> ProgressBar | None:
    if sys.stderr.isatty() or os.path.getsize(name) > PROGRESS_FROM_BYTES:
        return ProgressBar(Path(name).name)
    return None


def _print_report(report: DatasetReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_report_text(report))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tunebot")
    add_dataset_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
