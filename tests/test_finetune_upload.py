"""/finetune for datasets: admins only, usage errors at once, the upload form, the list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulators.sandbox import Sandbox
from tests.sandbox_helpers import ADMIN, chat_jsonl, final_reply, send


@pytest.fixture
def box(database_url: str) -> Iterator[Sandbox]:
    with Sandbox.open(database_url=database_url, admins=frozenset({ADMIN})) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        yield b


def _ack(box: Sandbox) -> dict[str, Any]:
    body = box.slack.acks[-1]["body"]
    return json.loads(body) if isinstance(body, str) and body else (body or {})


def _submit(box: Sandbox, view: dict[str, Any], values: dict[str, Any]) -> int:
    return box.slack.send_interaction(
        ADMIN,
        {
            "type": "view_submission",
            "user": {"id": ADMIN},
            "view": {**view, "state": {"values": values}},
        },
    )


def _dm_text(box: Sandbox, needle: str) -> str:
    dm = box.slack.open_dm(ADMIN)

    def found() -> str | None:
        for message in box.slack.messages(dm):
            if message.get("bot_id") and needle in (message.get("text") or ""):
                return str(message["text"])
        return None

    return box.slack.wait_for(found, timeout=20)


def test_a_non_admin_is_refused_privately(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    channel = box.slack.add_channel("general")
    status, _ = box.slack.send_slash_command(user, channel, "/finetune", "upload")
    assert status == 200
    ack = _ack(box)
    assert ack["response_type"] == "ephemeral" and "Only tunebot admins" in ack["text"]
    assert "views.open" not in [c.method for c in box.slack.calls]


def test_an_unknown_subcommand_gets_the_usage_at_once(box: Sandbox) -> None:
    channel = box.slack.add_channel("general")
    box.slack.send_slash_command(ADMIN, channel, "/finetune", "uplod")
    ack = _ack(box)
    assert ack["response_type"] == "ephemeral"
    assert "Unknown subcommand `uplod`" in ack["text"] and "/finetune upload" in ack["text"]


def test_upload_opens_a_form_whose_file_is_checked_and_reported_by_dm(box: Sandbox) -> None:
    channel = box.slack.add_channel("general")
    box.slack.send_slash_command(ADMIN, channel, "/finetune", "upload")
    view = box.slack.wait_for(lambda: next(iter(box.slack.views.values()), None))
    assert view["callback_id"] == "dataset_upload"
    assert any(b["element"]["type"] == "file_input" for b in view["blocks"] if "element" in b)

    file = box.slack.add_file(ADMIN, "faq.jsonl", chat_jsonl())
    _submit(
        box,
        view,
        {
            "file": {"file": {"type": "file_input", "files": [file]}},
            "split": {"split": {"type": "number_input", "value": "0"}},
        },
    )

    assert _ack(box)["response_action"] == "update"
    assert "Stored as *ds-1* and uploaded" in _dm_text(box, "Stored as")


def test_upload_of_a_chat_export_asks_for_the_speaker_in_the_form(box: Sandbox) -> None:
    rows = ["Date,User,Message"] + [
        f'2026-10-{d:02d} 10:00:00,"민지","질문 {d}"\n2026-10-{d:02d} 10:01:00,"준","답 {d}"'
        for d in range(1, 13)
    ]
    channel = box.slack.add_channel("general")
    box.slack.send_slash_command(ADMIN, channel, "/finetune", "upload")
    view = box.slack.wait_for(lambda: next(iter(box.slack.views.values()), None))
    file = box.slack.add_file(ADMIN, "chat.csv", ("\n".join(rows) + "\n").encode())
    _submit(box, view, {"file": {"file": {"type": "file_input", "files": [file]}}})

    picker = box.slack.wait_for(
        lambda: next(
            (v for v in box.slack.views.values() if v["callback_id"] == "dataset_upload_speaker"),
            None,
        )
    )
    choice = {"speaker": {"speaker": {"type": "static_select", "selected_option": {"value": "준"}}}}
    _submit(box, picker, choice)

    assert _ack(box)["response_action"] == "clear"
    assert "Stored as *ds-1*" in _dm_text(box, "Stored as")


def test_datasets_lists_what_is_stored(box: Sandbox) -> None:
    dm, ts = send(box, ADMIN, "faq.jsonl", chat_jsonl())
    final_reply(box, dm, ts, "Stored as")
    channel = box.slack.add_channel("general")

    box.slack.send_slash_command(ADMIN, channel, "/finetune", "datasets")

    listing = box.slack.wait_for(lambda: box.slack.responses)[-1]
    assert listing["response_type"] == "ephemeral"
    assert "*ds-1* `faq.jsonl`: 12 examples" in listing["text"] and "uploaded" in listing["text"]
