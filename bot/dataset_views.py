"""Slack text and Block Kit for dataset outcomes: the report, where it was stored, how its upload
to the provider went, what next."""

from __future__ import annotations

from typing import Any

from admin.datasets import render_report_for_slack
from admin.intake import IntakeResult, StoredDataset
from storage.upload_repo import UploadStatus

MAX_OPTIONS = 100  # Slack's limit for a static_select


def build_result_text(name: str, result: IntakeResult) -> str:
    assert result.report is not None
    lines = [f"*{name}*", render_report_for_slack(result.report, limit_chars=2800)]
    if not result.report.valid:
        lines.append("Nothing was stored. Fix the errors above and send the file again.")
        return "\n".join(lines)
    dataset = result.dataset
    if dataset is not None:
        lines.append(_stored_line(dataset, duplicate=result.duplicate))
    if result.validation is not None:
        lines.append("Validation split: " + _stored_line(result.validation, duplicate=False))
    if dataset is not None and dataset.status == UploadStatus.UPLOADED:
        train = f"/finetune train {dataset.label}"
        if result.validation is not None:
            train += f" validation={result.validation.label}"
        lines.append(f"Next: `{train}`")
    return "\n".join(lines)


def _stored_line(dataset: StoredDataset, *, duplicate: bool) -> str:
    if duplicate and dataset.status == UploadStatus.UPLOADED:
        return (
            f"This content is already stored as *{dataset.label}* "
            f"(provider file `{dataset.file_id}`), so it was not uploaded again."
        )
    if duplicate:
        return f"This content is already stored as *{dataset.label}* and is being uploaded."
    if dataset.status == UploadStatus.UPLOADED:
        return f"Stored as *{dataset.label}* and uploaded (provider file `{dataset.file_id}`)."
    return (
        f"Stored as *{dataset.label}*, but the upload failed: {dataset.error} "
        "Send the file again to retry the upload."
    )


def build_speaker_picker(
    name: str, speakers: list[tuple[str, int]], block_id: str, action_id: str
) -> tuple[str, list[dict[str, Any]]]:
    text = (
        f"*{name}* looks like a KakaoTalk export with {len(speakers)} speakers. "
        "Whose voice should tunebot learn? Their messages become the assistant's turns; "
        "everyone else's become the user's."
    )
    options = [
        {
            "text": {"type": "plain_text", "text": f"{speaker} ({count} messages)"[:75]},
            "value": speaker[:150],
        }
        for speaker, count in speakers[:MAX_OPTIONS]
    ]
    blocks = [
        {
            "type": "section",
            "block_id": block_id,
            "text": {"type": "mrkdwn", "text": text},
            "accessory": {
                "type": "static_select",
                "action_id": action_id,
                "placeholder": {"type": "plain_text", "text": "Choose a speaker"},
                "options": options,
            },
        }
    ]
    return text, blocks
