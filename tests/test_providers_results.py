"""Pure pieces of the providers: results files, metrics events, dates and job phases."""

from __future__ import annotations

import base64
from datetime import date

import pytest

from admin.providers.base import JobEvent, MetricPoint
from admin.providers.builtin import OpenAI
from admin.providers.errors import is_fine_tuning_closed
from admin.providers.plugin import ProviderContext
from admin.providers.results import parse_results_file, points_from_events
from admin.providers.wire import day

CSV = (
    "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"
    "1,2.0,0.4,2.2,0.38\n"
    "2,1.5,0.5,,\n"
    "3,1.0,0.6,1.1,0.55\n"
)


def test_a_plain_results_file_parses_with_gaps_in_validation() -> None:
    assert parse_results_file(CSV.encode()) == [
        MetricPoint(1, 2.0, 2.2),
        MetricPoint(2, 1.5, None),
        MetricPoint(3, 1.0, 1.1),
    ]


def test_a_base64_results_file_parses_like_the_plain_one() -> None:
    encoded = base64.b64encode(CSV.encode())
    assert parse_results_file(encoded) == parse_results_file(CSV.encode())
    wrapped = b"\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert parse_results_file(wrapped) == parse_results_file(CSV.encode())


def test_full_validation_loss_stands_in_for_the_per_step_one() -> None:
    text = "step,train_loss,full_valid_loss\n10,0.5,0.6\n"
    assert parse_results_file(text.encode()) == [MetricPoint(10, 0.5, 0.6)]


@pytest.mark.parametrize("raw", [b"", b"not base64 at all!", b"\x00\xff\x00", b"a,b\n1,2\n"])
def test_unreadable_results_give_no_points(raw: bytes) -> None:
    assert parse_results_file(raw) == []


def test_metrics_events_become_points_in_step_order() -> None:
    events = [
        JobEvent("e3", None, "info", "Step 2/2", "metrics", {"step": 2, "train_loss": 0.9}),
        JobEvent("e1", None, "info", "Created", "message", {}),
        JobEvent(
            "e2",
            None,
            "info",
            "Step 1/2",
            "metrics",
            {"step": 1, "train_loss": 1.2, "valid_loss": 1.3},
        ),
    ]
    assert points_from_events(events) == [MetricPoint(1, 1.2, 1.3), MetricPoint(2, 0.9, None)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-01-06", date(2027, 1, 6)),
        ("2027-01-06T00:00:00Z", date(2027, 1, 6)),
        (1_800_000_000, date(2027, 1, 15)),
        ("1800000000", date(2027, 1, 15)),
        (None, None),
        ("", None),
        ("soon", None),
    ],
)
def test_shutdown_dates_in_every_shape(value: object, expected: date | None) -> None:
    assert day(value) == expected


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("validating_files", "active"),
        ("queued", "active"),
        ("running", "active"),
        ("paused", "active"),
        ("pausing", "active"),
        ("something_new", "active"),
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("cancelled", "cancelled"),
    ],
)
def test_every_status_maps_to_a_phase(status: str, phase: str) -> None:
    provider = OpenAI(OpenAI.Settings(api_key="sk-x"), ProviderContext(today=date.today))
    assert provider.phase(status) == phase


def test_a_closed_door_is_told_apart_from_an_unsuitable_model() -> None:
    assert is_fine_tuning_closed("fine_tuning_unavailable", "anything", 403)
    closed = (
        "Your organization can no longer create fine-tuning jobs: fine-tuning is no longer offered."
    )
    assert is_fine_tuning_closed(None, closed, 403)
    unsuitable = "Model o3-mini is not available for fine-tuning or does not exist."
    assert not is_fine_tuning_closed("model_not_available", unsuitable, 400)
