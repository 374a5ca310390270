"""`tunebot dataset validate|convert`: the dataset engine on the command line."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from admin.datasets.api import analyze, prepare
from admin.datasets.detect import FORMATS
from admin.datasets.engine import DEFAULT_MODEL
from admin.datasets.output import validation_path
from admin.datasets.progress import ProgressBar
from admin.datasets.render import render_report_text
from admin.datasets.report import DatasetReport

# The lead's `tunebot` entry point calls `add_dataset_commands(subparsers)`; each command sets
# `func(args) -> int`: 0 valid, 1 invalid, 2 usage or I/O error. Also runnable on its own as
# `python -m admin.datasets.cli dataset validate FILE`.

OK, INVALID, USAGE = 0, 1, 2
PROGRESS_FROM_BYTES = 20_000_000  # bigger files show progress even when stderr is not a tty
_FORMAT_HELP = f"input format (default: detected): {', '.join(FORMATS)}, kakao_txt"


def add_dataset_commands(subparsers: argparse._SubParsersAction) -> None:
    dataset = subparsers.add_parser("dataset", help="check and convert fine-tuning data")
    commands = dataset.add_subparsers(dest="dataset_command", metavar="COMMAND", required=True)

    validate = commands.add_parser(
        "validate", help="check a dataset, count its tokens and estimate the training cost"
    )
    _common(validate)
    validate.add_argument(
        "--epochs", type=int, help="epochs to price (default: the service's rule)"
    )
    validate.add_argument("--validation", metavar="FILE", help="a validation file to check too")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.set_defaults(func=run_validate)

    convert = commands.add_parser(
        "convert",
        help="write the dataset as normalised chat JSONL, ready to upload",
        description="With --validation-split, a share of the examples goes to "
        "OUT.validation.jsonl next to OUT.jsonl (chosen by a hash of each example, so the "
        "split is the same every run). Nothing is written when the data is invalid, "
        "unless --force.",
    )
    _common(convert)
    convert.add_argument("-o", "--output", required=True, metavar="OUT.jsonl")
    convert.add_argument(
        "--validation-split",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of examples for validation, e.g. 0.1",
    )
    convert.add_argument("--force", action="store_true", help="write even if there are errors")
    convert.add_argument("--json", action="store_true", help="print the report as JSON")
    convert.set_defaults(func=run_convert)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE")
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"base model (default {DEFAULT_MODEL})"
    )
    parser.add_argument("--format", dest="fmt", metavar="F", help=_FORMAT_HELP)
    parser.add_argument("--assistant", metavar="NAME", help="KakaoTalk: whose replies to learn")
    parser.add_argument("--system", metavar="TEXT", help="system prompt for converted data")
    parser.add_argument(
        "--silence-minutes",
        type=int,
        default=60,
        metavar="N",
        help="KakaoTalk: a silence this long starts a new conversation",
    )


def run_validate(args: argparse.Namespace) -> int:
    for name in (args.file, args.validation):
        if name is not None and (problem := _unreadable(name)):
            return _usage(problem)
    bar = _progress_bar(args.file)
    try:
        report = analyze(
            args.file,
            model=args.model,
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
    bar = _progress_bar(args.file)
    try:
        prepared = prepare(
            args.file,
            model=args.model,
            fmt=args.fmt,
            assistant=args.assistant,
            system_prompt=args.system,
            silence_minutes=args.silence_minutes,
            validation_split=args.validation_split,
        )
    finally:
        if bar is not None:
            bar.close()
    report = prepared.report
    try:
        if report.valid or args.force:
            written = [(prepared.jsonl_path, out, prepared.examples)]
            if prepared.validation is not None:
                held = prepared.validation
                written.append((held.jsonl_path, validation_path(out), held.examples))
            for source, target, count in written:
                shutil.move(source, target)
                print(f"Wrote {count:,} examples to {target}", file=sys.stderr)
    except OSError as exc:
        return _usage(f"cannot write {out}: {exc.strerror or exc}")
    finally:
        prepared.cleanup()
    _print_report(report, args.json)
    return OK if report.valid else INVALID


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
