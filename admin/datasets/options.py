"""What a dataset takes: the `key=value` words of a file DM'd to the bot and `tunebot dataset`'s
flags, declared once (types, bounds, help) for both."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from admin.datasets.conversations import DEFAULT_SILENCE_MINUTES
from admin.datasets.detect import FORMATS, normalise_format
from admin.datasets.engine import MAX_EPOCHS
from admin.options import Expects, Options

FORMATS_HELP = f"{', '.join(FORMATS)}, kakao_txt"


def _format(value: Any) -> Any:
    if normalise_format(value) is None:
        raise ValueError("unknown format")
    return value


class DatasetOptions(Options):
    model: str | None = Field(None, description="the model to count tokens and price for")
    epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS, description="epochs to price")
    format: Annotated[str | None, AfterValidator(_format), Expects(f"one of {FORMATS_HELP}")] = (
        Field(None, description="the input format (default: detected)")
    )
    assistant: str | None = Field(
        None, description="KakaoTalk: the speaker whose replies the bot learns"
    )
    system: str | None = Field(None, description="a system prompt for converted data")
    silence: int = Field(
        DEFAULT_SILENCE_MINUTES,
        ge=1,
        description="KakaoTalk: minutes of silence that start a new conversation",
    )
    split: float | None = Field(
        None, gt=0, lt=1, description="a share of examples held out for validation, such as 0.1"
    )
