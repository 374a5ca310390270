"""Every admin surface refuses a non-admin in one place, and nothing they send takes effect."""

from __future__ import annotations

import json
from typing import Any

from admin.intake import IntakeOptions
from bot import job_views, upload_views
from bot.datasets import PICK_ACTION, encode_pending
from emulators.sandbox import Sandbox
from storage.models import AuditEntry, Dataset, Job
from tests.sandbox_helpers import ADMIN, NOTIFY, chat_jsonl, final_reply, send

MODEL = "gpt-4o-mini-2024-07-18"


def _nothing_happened(box: Sandbox) -> None:
    with box.deps.session_factory() as session:
        assert session.query(Dataset).count() == 0
        assert session.query(Job).count() == 0
    assert box.openai.files == {} and box.openai.jobs == {}
    assert "views.open" not in [c.method for c in box.slack.calls]


def _refusals(box: Sandbox) -> list[AuditEntry]:
    with box.deps.session_factory() as session:
        return session.query(AuditEntry).filter(AuditEntry.outcome.like("refused: not%")).all()


def test_a_dm_file_from_a_non_admin_is_not_opened(box: Sandbox) -> None:
    user = box.slack.add_user("minji")

    dm, ts = send(box, user, "faq.jsonl", chat_jsonl(12))

    assert "Only tunebot admins can add datasets" in final_reply(box, dm, ts, "Only tunebot")
    assert "files.info" not in [c.method for c in box.slack.calls]
    _nothing_happened(box)


def test_each_interactive_admin_surface_refuses_a_non_admin(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    dm = box.slack.open_dm(user)
    # A valid dataset in Slack: had any surface let the click through, it would be stored.
    file_id = box.slack.add_file(ADMIN, "faq.jsonl", chat_jsonl(12))["id"]
    ts = box.slack.post_as_user(user, dm, "hello").ts
    surfaces: list[dict[str, Any]] = [
        {  # the speaker picker of a chat export
            "type": "block_actions",
            "user": {"id": user},
            "channel": {"id": dm},
            "message": {"ts": ts},
            "actions": [
                {
                    "type": "static_select",
                    "action_id": PICK_ACTION,
                    "block_id": encode_pending(file_id, IntakeOptions(model=MODEL)),
                    "selected_option": {"value": "minji"},
                }
            ],
        },
        {  # "Start" on a training that needed a confirmation
            "type": "block_actions",
            "user": {"id": user},
            "channel": {"id": NOTIFY},
            "actions": [
                {"type": "button", "action_id": job_views.CONFIRM_ACTION, "value": "train ds-1"}
            ],
        },
        {  # the upload form
            "type": "view_submission",
            "user": {"id": user},
            "view": {
                "id": "V0FAKE",
                "type": "modal",
                "callback_id": upload_views.UPLOAD_CALLBACK,
                "private_metadata": "{}",
                "state": {"values": {}},
            },
        },
        {  # the speaker form
            "type": "view_submission",
            "user": {"id": user},
            "view": {
                "id": "V0FAKE2",
                "type": "modal",
                "callback_id": upload_views.SPEAKER_CALLBACK,
                "private_metadata": json.dumps({"file_id": file_id, "model": MODEL}),
                "state": {"values": {}},
            },
        },
    ]
    before = len(_refusals(box))
    datasets_before = _count(box, Dataset)

    for payload in surfaces:
        assert box.slack.send_interaction(user, payload) == 200

    assert len(_refusals(box)) - before == len(surfaces)
    assert _count(box, Dataset) == datasets_before and _count(box, Job) == 0
    assert box.openai.jobs == {}


def test_a_non_admin_slash_command_reaches_no_provider(box: Sandbox) -> None:
    user = box.slack.add_user("minji")

    status, body = box.slack.send_slash_command(user, NOTIFY, "/finetune", "train ds-1")

    assert status == 200 and "Only tunebot admins" in json.loads(body)["text"]
    assert [r.outcome for r in _refusals(box)] == ["refused: not an admin"]
    _nothing_happened(box)


def _count(box: Sandbox, table: type) -> int:
    with box.deps.session_factory() as session:
        return int(session.query(table).count())
