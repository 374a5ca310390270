"""The loss chart is a PNG of the promised size whatever the points look like."""

from __future__ import annotations

import io

from PIL import Image

from admin.charts import nice_ticks, render_loss_chart
from admin.providers.base import MetricPoint

PNG = b"\x89PNG\r\n\x1a\n"


def _image(data: bytes) -> Image.Image:
    assert data.startswith(PNG)
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _colours(image: Image.Image) -> set[object]:
    return {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 20) or []}


def test_a_chart_with_both_losses_draws_both_colours() -> None:
    points = [MetricPoint(s, 2.0 * 0.8**s, 2.2 * 0.8**s) for s in range(1, 41)]
    image = _image(render_loss_chart(points, title="ftjob-abc on gpt-4o-mini"))
    assert image.size == (800, 400) and image.format == "PNG"
    assert {(31, 119, 180), (255, 127, 14)} <= _colours(image)


def test_a_chart_without_validation_loss_draws_training_only() -> None:
    points = [MetricPoint(s, 1.0 / s) for s in range(1, 8)]
    image = _image(render_loss_chart(points, title="no validation"))
    assert image.size == (800, 400)
    colours = _colours(image)
    assert (31, 119, 180) in colours and (255, 127, 14) not in colours


def test_a_single_point_and_no_points_still_render() -> None:
    assert _image(render_loss_chart([MetricPoint(1, 0.7, 0.8)], title="one")).size == (800, 400)
    assert _image(render_loss_chart([], title="none")).size == (800, 400)


def test_flat_losses_still_get_a_scale() -> None:
    image = _image(render_loss_chart([MetricPoint(s, 0.5) for s in range(5)], title="flat"))
    assert image.size == (800, 400)


def test_ticks_are_round_numbers_covering_the_range() -> None:
    assert nice_ticks(0.05, 2.0) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert nice_ticks(1, 30, whole=True) == [0.0, 10.0, 20.0, 30.0]
    assert nice_ticks(1, 3, whole=True) == [1.0, 2.0, 3.0]
