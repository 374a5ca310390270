"""The /finetune upload form (a file input with the conversion options, then a speaker picker)
and the `/finetune datasets` listing with each dataset's uploads."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from admin.datasets.options import DatasetOptions
from admin.datasets.render import counted
from admin.intake import IntakeOptions, needs_assistant
from admin.options import UsageError, read_options
from bot.deps import Deps
from bot.files import fetched_file
from storage.models import Dataset, DatasetUpload
from storage.upload_repo import UploadStatus

UPLOAD_CALLBACK = "dataset_upload"
SPEAKER_CALLBACK = "dataset_upload_speaker"
FILETYPES = ["jsonl", "json", "csv", "tsv", "txt", "xlsx"]


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _input(block_id: str, label: str, element: dict[str, Any], *, hint: str = "") -> dict[str, Any]:
    block = {
        "type": "input",
        "block_id": block_id,
        "label": _text(label),
        "optional": True,
        "element": {"action_id": block_id, **element},
    }
    if hint:
        block["hint"] = _text(hint)
    return block


def build_upload_view(base_model: str) -> dict[str, Any]:
    file_block = _input(
        "file",
        "Dataset file",
        {"type": "file_input", "filetypes": FILETYPES, "max_files": 1},
        hint="Chat JSONL, prompt/completion or DPO JSONL, a KakaoTalk export "
        "(CSV or TXT), or CSV/TSV/XLSX/JSON with question and answer columns.",
    )
    file_block["optional"] = False
    return {
        "type": "modal",
        "callback_id": UPLOAD_CALLBACK,
        "title": _text("Add a dataset"),
        "submit": _text("Check and upload"),
        "close": _text("Cancel"),
        "blocks": [
            file_block,
            _input(
                "model",
                "Model to fine-tune",
                {"type": "plain_text_input", "initial_value": base_model},
            ),
            _input(
                "assistant",
                "Speaker the bot should sound like",
                {"type": "plain_text_input"},
                hint="For chat exports. Leave empty to choose from the speakers found.",
            ),
            _input("system", "System prompt", {"type": "plain_text_input", "multiline": True}),
            _input(
                "silence",
                "Minutes of silence that start a new conversation",
                {
                    "type": "number_input",
                    "is_decimal_allowed": False,
                    "initial_value": "60",
                    "min_value": "1",
                },
            ),
            _input(
                "split",
                "Share of examples held out for validation",
                {
                    "type": "number_input",
                    "is_decimal_allowed": True,
                    "initial_value": "0",
                    "min_value": "0",
                    "max_value": "0.5",
                },
            ),
        ],
    }


# The form's inputs that are dataset options, under the same names a DM's words use.
FORM_OPTIONS = ("model", "assistant", "system", "silence", "split")


def read_upload_form(values: dict[str, Any]) -> dict[str, Any]:
    """Form state -> the same option names a DM takes; raises UsageError for a bad split."""

    def value(block: str) -> Any:
        return (values.get(block) or {}).get(block) or {}

    files = value("file").get("files") or []
    if not files:
        raise UsageError("Attach a file.")
    typed = {key: (value(key).get("value") or "").strip() for key in FORM_OPTIONS}
    if typed["split"] and float(typed["split"]) == 0:
        typed["split"] = ""  # the form's initial 0: hold nothing out
    options = read_options({k: v for k, v in typed.items() if v}, DatasetOptions)
    return {"file_id": files[0]["id"], **options.model_dump(exclude_unset=True)}


def build_working_view(message: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": _text("Add a dataset"),
        "close": _text("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": message}}],
    }


def speakers_of(deps: Deps, client: WebClient, file_id: str) -> list[tuple[str, int]]:
    with fetched_file(
        client,
        file_id=file_id,
        slack_api_url=deps.settings.slack_api_url,
        max_mb=deps.settings.max_dataset_mb,
    ) as fetched:
        return needs_assistant(fetched.path, fetched.name, IntakeOptions(model=""))


def build_speaker_view(speakers: list[tuple[str, int]], pending: dict[str, Any]) -> dict[str, Any]:
    options = [
        {"text": _text(f"{name} ({count} messages)"[:75]), "value": name[:150]}
        for name, count in speakers[:100]
    ]
    return {
        "type": "modal",
        "callback_id": SPEAKER_CALLBACK,
        "title": _text("Whose voice?"),
        "submit": _text("Check and upload"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps(pending)[:3000],
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "This is a chat export. Whose messages should become the "
                    "assistant's turns? Everyone else's become the user's.",
                },
            },
            {
                "type": "input",
                "block_id": "speaker",
                "label": _text("Speaker"),
                "element": {"type": "static_select", "action_id": "speaker", "options": options},
            },
        ],
    }


def read_speaker(values: dict[str, Any]) -> str:
    return str(values["speaker"]["speaker"]["selected_option"]["value"])


def build_dataset_list(rows: list[Dataset], label: Callable[[str], str]) -> str:
    """Stored datasets, newest first, each with where it was uploaded (`label` names a
    provider); the rows' `uploads` must be loaded."""
    if not rows:
        return "No datasets yet. DM me a file, or run `/finetune upload`."
    lines = ["*Datasets* (newest first)"]
    for row in rows:
        cost = row.report.get("estimated_cost_usd")
        price = f", est. ${cost:.2f}" if isinstance(cost, int | float) else ""
        link = f", validation for ds-{row.validation_for_id}" if row.validation_for_id else ""
        link += f", from {row.origin}" if row.origin != "upload" else ""
        lines.append(
            f"• *ds-{row.id}* `{row.name}`: {counted(row.examples, 'example')}, "
            f"{row.source_format}, {_uploads_text(row.uploads, label)}{price}{link}, "
            f"by <@{row.uploaded_by}> "
            f"<!date^{int(row.created_at.timestamp())}^{{date_short}}|{row.created_at:%Y-%m-%d}>"
        )
    return "\n".join(lines)


_UPLOAD_WORDS = {
    UploadStatus.UPLOADED: "uploaded to",
    UploadStatus.UPLOADING: "uploading to",
    UploadStatus.FAILED: "upload failed at",
}


def _uploads_text(uploads: list[DatasetUpload], label: Callable[[str], str]) -> str:
    if not uploads:
        return "not uploaded"
    words = (f"{_UPLOAD_WORDS[UploadStatus(u.status)]} {label(u.provider)}" for u in uploads)
    return ", ".join(words)
