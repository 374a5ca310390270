"""Loss curves -> a PNG posted with the job's result in Slack; a pure function of the points."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from admin.providers.base import MetricPoint

if TYPE_CHECKING:
    # Pillow is imported when a chart is drawn (a job's end), not when the bot starts: an
    # idle bot does not hold it in memory.
    from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 800, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 44, 48  # room for tick labels, the title and the legend
BACKGROUND = (255, 255, 255)
AXIS = (90, 90, 90)
GRID = (232, 232, 232)
TEXT = (40, 40, 40)
TRAIN = (31, 119, 180)  # blue and orange stay distinct for the common colour blindnesses
VALID = (255, 127, 14)
Font: TypeAlias = "ImageFont.FreeTypeFont | ImageFont.ImageFont"
Scale = Callable[[float], float]


def render_loss_chart(points: list[MetricPoint], *, title: str) -> bytes:
    """Training and validation loss by step; the last values are printed in the corner."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(12)
    draw.text((LEFT, 12), title[:90], fill=TEXT, font=font)
    ordered = sorted(points, key=lambda p: p.step)
    if not ordered:
        draw.text((WIDTH // 2 - 60, HEIGHT // 2), "no metrics yet", fill=AXIS, font=font)
        return _png(image)

    valid = [p for p in ordered if p.valid_loss is not None]
    losses = [p.train_loss for p in ordered]
    losses += [p.valid_loss for p in valid if p.valid_loss is not None]
    levels = nice_ticks(min(losses), max(losses))
    low, high = levels[0], levels[-1]
    first, last = ordered[0].step, ordered[-1].step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(step: float) -> float:
        # A single point sits in the middle rather than on the axis.
        return LEFT + (plot_w / 2 if last == first else (step - first) / (last - first) * plot_w)

    def y(loss: float) -> float:
        return TOP + (high - loss) / (high - low) * plot_h

    steps = [first] if last == first else nice_ticks(first, last, whole=True)
    _axes(draw, small, levels, [s for s in steps if first <= s <= last], x, y)
    _line(draw, [(x(p.step), y(p.train_loss)) for p in ordered], TRAIN)
    _line(draw, [(x(p.step), y(p.valid_loss)) for p in valid if p.valid_loss is not None], VALID)
    _legend(draw, small, ordered[-1], valid[-1] if valid else None)
    return _png(image)


def nice_ticks(low: float, high: float, *, count: int = 4, whole: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering low..high."""
    if math.isclose(low, high):
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if whole:
        step = max(1.0, float(round(step)))
    start = math.floor(low / step) * step
    ticks = [start]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(round(start + step * len(ticks), 10))
    return ticks


def _axes(
    draw: ImageDraw.ImageDraw,
    font: Font,
    levels: Sequence[float],
    steps: Sequence[float],
    x: Scale,
    y: Scale,
) -> None:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    for value in levels:
        draw.line([(LEFT, y(value)), (right, y(value))], fill=GRID)
        label = f"{value:g}"
        width = draw.textlength(label, font=font)
        draw.text((LEFT - 8 - width, y(value) - 7), label, fill=TEXT, font=font)
    for step in steps:
        draw.line([(x(step), bottom), (x(step), bottom + 4)], fill=AXIS)
        label = f"{step:g}"
        width = draw.textlength(label, font=font)
        draw.text((x(step) - width / 2, bottom + 6), label, fill=TEXT, font=font)
    draw.line([(LEFT, TOP), (LEFT, bottom), (right, bottom)], fill=AXIS, width=1)
    draw.text((right - 30, bottom + 24), "step", fill=AXIS, font=font)
    draw.text((6, TOP - 20), "loss", fill=AXIS, font=font)


def _line(
    draw: ImageDraw.ImageDraw, xy: Sequence[tuple[float, float]], colour: tuple[int, int, int]
) -> None:
    if len(xy) > 1:
        draw.line(list(xy), fill=colour, width=2, joint="curve")
    for px, py in xy if len(xy) <= 60 else xy[-1:]:  # dots only where they stay readable
        draw.ellipse([(px - 3, py - 3), (px + 3, py + 3)], fill=colour)


def _legend(
    draw: ImageDraw.ImageDraw, font: Font, train: MetricPoint, valid: MetricPoint | None
) -> None:
    rows = [(TRAIN, f"training loss  {train.train_loss:.4f}  (step {train.step})")]
    if valid is not None and valid.valid_loss is not None:
        rows.append((VALID, f"validation loss  {valid.valid_loss:.4f}  (step {valid.step})"))
    width = max(draw.textlength(text, font=font) for _, text in rows) + 34
    left, top = WIDTH - RIGHT - width - 8, TOP + 8
    draw.rectangle(
        [(left, top), (left + width, top + 8 + 18 * len(rows))], fill=BACKGROUND, outline=GRID
    )
    for i, (colour, text) in enumerate(rows):
        row = top + 6 + 18 * i
        draw.line([(left + 8, row + 7), (left + 24, row + 7)], fill=colour, width=3)
        draw.text((left + 30, row), text, fill=TEXT, font=font)


def _font(size: int) -> Font:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError):  # a Pillow built without FreeType has only the bitmap font
        return ImageFont.load_default()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
