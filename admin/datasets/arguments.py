"""Option values of `tunebot dataset`: each checked when parsed, so a bad one exits 2."""

from __future__ import annotations

import argparse

from admin.datasets.detect import FORMATS, normalise_format
from admin.datasets.engine import MAX_EPOCHS

FORMATS_HELP = f"{', '.join(FORMATS)}, kakao_txt"


# argparse turns an ArgumentTypeError into "error: argument --x: ..." and exit status 2.
def format_name(value: str) -> str:
    if normalise_format(value) is None:
        raise argparse.ArgumentTypeError(f"unknown format {value!r}: use {FORMATS_HELP}")
    return value


def epochs(value: str) -> int:
    number = _integer(value)
    if not 1 <= number <= MAX_EPOCHS:
        raise argparse.ArgumentTypeError(f"epochs must be 1 to {MAX_EPOCHS}, not {value}")
    return number


def minutes(value: str) -> int:
    number = _integer(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"minutes must be 1 or more, not {value}")
    return number


def share(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"the share must be between 0 and 1, not {value}")
    return number


def _integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
