"""Training curves: a job's results file (CSV, plain or base64) or its metrics events -> points."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
from collections.abc import Iterable, Mapping
from typing import Any

from admin.providers.base import JobEvent, MetricPoint


def parse_results_file(raw: bytes) -> list[MetricPoint]:
    """Points from a fine-tune results file; OpenAI serves it base64-encoded, others plain."""
    text = _decode(raw)
    if not text:
        return []
    return _points(csv.DictReader(io.StringIO(text)))


def points_from_events(events: Iterable[JobEvent]) -> list[MetricPoint]:
    """Points from `metrics` events: all a running job has, and a fallback after it."""
    return _points(e.data for e in events if e.type == "metrics")


def _decode(raw: bytes) -> str:
    head = raw.lstrip()[:256]
    # A CSV header has commas; base64 never does.
    if b"," not in head:
        try:
            raw = base64.b64decode(b"".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            return ""
    return raw.decode("utf-8-sig", errors="replace").strip()


def _points(rows: Iterable[Mapping[str, Any]]) -> list[MetricPoint]:
    by_step: dict[int, MetricPoint] = {}
    for row in rows:
        step = _number(row.get("step"))
        train = _number(row.get("train_loss"))
        if step is None or train is None:
            continue
        # Per-step validation loss where there is one; the full-set one at epoch ends.
        valid = _number(row.get("valid_loss"))
        if valid is None:
            valid = _number(row.get("full_valid_loss"))
        by_step[int(step)] = MetricPoint(step=int(step), train_loss=train, valid_loss=valid)
    return [by_step[step] for step in sorted(by_step)]


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
