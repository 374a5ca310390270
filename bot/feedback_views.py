"""Block Kit and text for feedback: the buttons, the thanks, the correction form, the summaries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextActionsBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
    InputBlock,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from admin.datasets import render_report_for_slack
from admin.datasets.render import counted
from admin.feedback import FeedbackDatasets, FeedbackSummary
from admin.intake import IntakeResult
from bot.dataset_views import build_result_text
from storage.feedback_repo import ModelCounts, Vote

FEEDBACK_ACTION = "answer_feedback"
SUGGEST_ACTION = "answer_suggest"
CORRECTION_CALLBACK = "answer_correction"
CORRECTION_BLOCK = "correction"
MAX_CORRECTION = 3000  # Slack's limit for a plain_text_input
_SIGN = {Vote.POSITIVE: "👍", Vote.NEGATIVE: "👎"}


def build_feedback_blocks() -> list[dict[str, Any]]:
    """The feedback buttons Slack shows under an AI answer (a context_actions block)."""
    buttons = FeedbackButtonsElement(
        action_id=FEEDBACK_ACTION,
        positive_button=FeedbackButtonObject(
            text="👍", value=Vote.POSITIVE, accessibility_label="This answer helped"
        ),
        negative_button=FeedbackButtonObject(
            text="👎", value=Vote.NEGATIVE, accessibility_label="This answer did not help"
        ),
    )
    return [ContextActionsBlock(elements=[buttons]).to_dict()]


def build_thanks(
    vote: Vote, previous: Vote | None, answer_id: int, *, can_correct: bool
) -> tuple[str, list[dict[str, Any]]]:
    """The ephemeral answer to a click; after a 👎, the offer to suggest a better answer."""
    if previous == vote:
        text = f"You already rated this answer {_SIGN[vote]}."
    elif previous is not None:
        text = f"Changed your rating of this answer to {_SIGN[vote]}."
    else:
        text = f"Thanks for rating this answer {_SIGN[vote]}."
    if vote != Vote.NEGATIVE or not can_correct:
        return text, [SectionBlock(text=text).to_dict()]
    text += " If you know the right answer, suggest it: admins can train the next model on it."
    button = ButtonElement(
        text="Suggest a better answer", action_id=SUGGEST_ACTION, value=str(answer_id)
    )
    return text, [SectionBlock(text=text).to_dict(), ActionsBlock(elements=[button]).to_dict()]


def build_correction_view(answer_id: int, answer_text: str) -> dict[str, Any]:
    """A modal prefilled with the bot's answer, to be edited into the right one."""
    field = PlainTextInputElement(
        action_id=CORRECTION_BLOCK,
        multiline=True,
        initial_value=answer_text[:MAX_CORRECTION] or None,
        max_length=MAX_CORRECTION,
    )
    return View(
        type="modal",
        callback_id=CORRECTION_CALLBACK,
        title="Suggest a better answer",
        submit="Save",
        close="Cancel",
        private_metadata=json.dumps({"answer_id": answer_id}),
        blocks=[
            SectionBlock(
                text="Edit my answer into the one you would have wanted. Admins can use it "
                "to train the next model."
            ),
            InputBlock(block_id=CORRECTION_BLOCK, label="Better answer", element=field),
        ],
    ).to_dict()


def read_correction(view: dict[str, Any]) -> tuple[int, str]:
    answer_id = int(json.loads(view["private_metadata"])["answer_id"])
    value = view["state"]["values"][CORRECTION_BLOCK][CORRECTION_BLOCK].get("value") or ""
    return answer_id, value.strip()


def build_summary(
    summary: FeedbackSummary,
    link: Callable[[str, str], str | None],
    label: Callable[[str | None], str],
) -> str:
    """The counts per model (named with where it is served), and links to the latest 👎."""
    lines = ["*Feedback on tunebot's answers*"]
    for period, counts, corrections in (
        ("Last 7 days", summary.week, summary.corrections_week),
        ("Last 30 days", summary.month, summary.corrections_month),
    ):
        lines.append(f"*{period}*: {counted(corrections, 'correction')}")
        lines += [_counts_line(c, label) for c in counts] or ["• no ratings"]
    if summary.negatives:
        lines.append("*Latest answers rated 👎*")
    for answer in summary.negatives:
        url = link(answer.channel_id, answer.reply_ts)
        where = f"<{url}|{answer.created_at:%Y-%m-%d %H:%M} UTC>" if url else "(message gone)"
        lines.append(f"• {where} `{answer.model}` at {label(answer.provider)}")
    lines.append("`/finetune feedback dataset` turns ratings and corrections into datasets.")
    return "\n".join(lines)


def _counts_line(counts: ModelCounts, label: Callable[[str | None], str]) -> str:
    where = label(counts.provider)
    return f"• `{counts.model}` at {where}: 👍 {counts.positive}  👎 {counts.negative}"


def build_export_text(built: FeedbackDatasets, *, dms_included: bool) -> str:
    export = built.export
    lines = [
        "*Dataset from feedback*: "
        f"{counted(export.positive, 'answer')} rated 👍, {counted(export.corrected, 'answer')} "
        f"corrected → {counted(len(export.chat), 'chat example')}, "
        f"{counted(len(export.preferences), 'preference pair')}."
    ]
    left = [
        (export.mixed, "rated both 👍 and 👎"),
        (export.negative_only, "rated 👎 without a correction"),
        (export.too_few_votes, "with fewer 👍 than min_votes"),
        (export.dm_left_out, "given in DMs (TUNEBOT_FEEDBACK_DMS is off)"),
        (export.expired, "whose texts are no longer kept (TUNEBOT_FEEDBACK_KEEP_DAYS)"),
    ]
    lines += [f"Left out: {counted(n, 'answer')} {why}." for n, why in left if n]
    if dms_included:
        lines.append("Answers given in DMs are included (TUNEBOT_FEEDBACK_DMS=on).")
    if built.chat is None and built.preferences is None:
        lines.append("Nothing to build yet: no answer was rated 👍 or corrected.")
    for taken in (built.chat, built.preferences):
        if taken is not None:
            lines += ["", _result_text(*taken)]
    if built.preferences is not None and (stored := built.preferences[1].dataset) is not None:
        lines.append(
            f"Preference pairs train with `method=dpo`: `/finetune train {stored.label} method=dpo`"
        )
    return "\n".join(lines)


def _result_text(name: str, result: IntakeResult) -> str:
    assert result.report is not None
    if result.report.valid:
        return build_result_text(name, result)
    report = render_report_for_slack(result.report, limit_chars=2800)
    return (
        f"*{name}*\n{report}\nNothing was stored: once more answers are rated or corrected, "
        "run `/finetune feedback dataset` again."
    )
