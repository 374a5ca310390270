"""Admins DM datasets to the bot: validated, stored once, uploaded once per provider; everyone
else is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from emulators.openai import OpenAIEmulator
from emulators.sandbox import Sandbox
from storage import upload_repo
from storage.models import Dataset, DatasetUpload
from tests.sandbox_helpers import ADMIN, chat_jsonl, final_reply, send


@pytest.fixture
def box(database_url: str) -> Iterator[Sandbox]:
    with Sandbox.open(database_url=database_url, admins=frozenset({ADMIN}), max_dataset_mb=1) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        yield b


def datasets(box: Sandbox) -> list[Dataset]:
    with box.deps.session_factory() as session:
        return list(session.query(Dataset).order_by(Dataset.id))


def upload(box: Sandbox, dataset: Dataset) -> DatasetUpload:
    """The dataset's upload to the sandbox's provider (OpenAI)."""
    with box.deps.session_factory() as session:
        found = upload_repo.find_upload(session, dataset_id=dataset.id, provider="openai")
    assert found is not None
    return found


def test_a_valid_file_is_reported_stored_and_uploaded(box: Sandbox) -> None:
    dm, ts = send(box, ADMIN, "faq.jsonl", chat_jsonl())

    reply = final_reply(box, dm, ts, "Stored as", "Nothing was stored")

    assert "Stored as *ds-1* and uploaded" in reply
    assert "/finetune train ds-1" in reply
    [row] = datasets(box)
    sent = upload(box, row)
    assert (sent.status, row.examples, row.uploaded_by) == ("uploaded", 12, ADMIN)
    assert sent.file_id is not None
    meta, content = box.openai.files[sent.file_id]
    assert meta["purpose"] == "fine-tune"
    assert hashlib.sha256(content).hexdigest() == row.sha256
    assert row.report["valid"] is True and row.report["examples"] == 12


def test_the_same_content_is_recognised_and_not_uploaded_twice(box: Sandbox) -> None:
    dm, ts = send(box, ADMIN, "faq.jsonl", chat_jsonl())
    final_reply(box, dm, ts, "Stored as")
    dm, ts = send(box, ADMIN, "faq-copy.jsonl", chat_jsonl())

    reply = final_reply(box, dm, ts, "already stored")

    assert "already stored as *ds-1*" in reply
    assert len(datasets(box)) == 1
    assert len([f for f in box.openai.files.values() if f[0]["purpose"] == "fine-tune"]) == 1


def test_a_non_admin_is_refused_and_the_file_is_not_fetched(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    dm, ts = send(box, user, "faq.jsonl", chat_jsonl())

    reply = final_reply(box, dm, ts, "Only tunebot admins")

    assert "did not open that file" in reply
    assert box.slack.file_fetches == []
    assert "files.info" not in [c.method for c in box.slack.calls]
    assert datasets(box) == []


def test_an_invalid_file_gets_a_report_naming_the_line_and_nothing_is_stored(
    box: Sandbox,
) -> None:
    content = chat_jsonl().replace(b"\n", b"\n{not json\n", 1)
    dm, ts = send(box, ADMIN, "broken.jsonl", content)

    reply = final_reply(box, dm, ts, "Nothing was stored")

    assert "line 2" in reply.lower()
    assert datasets(box) == []
    assert box.openai.files == {}


def test_a_kakaotalk_export_asks_whose_voice_then_trains_on_that_speaker(box: Sandbox) -> None:
    rows = ["Date,User,Message"]
    for day in range(1, 13):
        rows += [
            f'2026-10-{day:02d} 09:00:00,"민지","오늘 배포 {day}번째 언제야?"',
            f'2026-10-{day:02d} 09:01:00,"준","오후 세 시에 해요 {day}"',
            f'2026-10-{day:02d} 09:01:30,"준","끝나면 알려줄게요"',
        ]
    dm, ts = send(box, ADMIN, "KakaoTalk_chat.csv", ("\n".join(rows) + "\n").encode("utf-8-sig"))
    picker = box.slack.wait_for(
        lambda: next(
            (m for m in box.slack.messages(dm, ts) if m.get("blocks") and m.get("bot_id")), None
        ),
        timeout=20,
    )
    section = picker["blocks"][0]
    speakers = [o["value"] for o in section["accessory"]["options"]]
    assert set(speakers) == {"민지", "준"}

    status = box.select_option(ADMIN, dm, picker, "준")
    assert status == 200
    reply = final_reply(box, dm, ts, "Stored as", "Nothing was stored")

    assert "Stored as *ds-1*" in reply
    [row] = datasets(box)
    sent = upload(box, row)
    assert sent.file_id is not None
    first = json.loads(box.openai.files[sent.file_id][1].splitlines()[0])
    roles = {m["role"]: m["content"] for m in first["messages"]}
    assert roles["assistant"].startswith("오후 세 시에 해요") and "끝나면" in roles["assistant"]
    assert roles["user"].startswith("오늘 배포")


def test_a_failed_upload_is_reported_and_sending_again_retries_it(box: Sandbox) -> None:
    box.openai.fail_next("files", status=500, times=3)
    dm, ts = send(box, ADMIN, "faq.jsonl", chat_jsonl())
    reply = final_reply(box, dm, ts, "upload failed")
    assert "Stored as *ds-1*, but the upload failed" in reply
    assert [upload(box, r).status for r in datasets(box)] == ["failed"]

    dm, ts = send(box, ADMIN, "faq.jsonl", chat_jsonl())
    reply = final_reply(box, dm, ts, "and uploaded")

    [row] = datasets(box)
    sent = upload(box, row)
    assert sent.status == "uploaded" and sent.file_id in box.openai.files


def test_known_content_sent_after_the_provider_changed_is_uploaded_there_once(
    database_url: str,
) -> None:
    with Sandbox.open(database_url=database_url, admins=frozenset({ADMIN})) as first:
        first.slack.add_user("admin", user_id=ADMIN)
        dm, ts = send(first, ADMIN, "faq.jsonl", chat_jsonl())
        assert "Stored as *ds-1* and uploaded" in final_reply(first, dm, ts, "Stored as")
    with (
        OpenAIEmulator() as nebius,
        Sandbox.open(
            database_url=database_url,
            admins=frozenset({ADMIN}),
            provider="nebius",
            provider_env={"NEBIUS_API_KEY": nebius.api_key, "NEBIUS_BASE_URL": nebius.base_url},
        ) as second,
    ):
        second.slack.add_user("admin", user_id=ADMIN)
        dm, ts = send(second, ADMIN, "faq-copy.jsonl", chat_jsonl())
        moved = final_reply(second, dm, ts, "Stored as", "already stored")
        dm, ts = send(second, ADMIN, "faq-again.jsonl", chat_jsonl())
        again = final_reply(second, dm, ts, "already stored")
        [row] = datasets(second)
        with second.deps.session_factory() as session:
            sent = upload_repo.uploads_of(session, dataset_id=row.id)

    # One dataset, one upload per provider: the new default provider gets it once.
    assert "Stored as *ds-1* and uploaded" in moved
    assert "already stored as *ds-1*" in again and "not uploaded again" in again
    assert [(u.provider, u.status) for u in sent] == [
        ("openai", "uploaded"),
        ("nebius", "uploaded"),
    ]
    assert [f[0]["purpose"] for f in nebius.files.values()] == ["fine-tune"]


def test_a_file_over_the_size_cap_is_refused_before_download(box: Sandbox) -> None:
    dm, ts = send(box, ADMIN, "huge.jsonl", chat_jsonl(9000))

    reply = final_reply(box, dm, ts, "the limit is")

    assert "TUNEBOT_MAX_DATASET_MB" in reply
    assert box.slack.file_fetches == [] and datasets(box) == []


def test_a_validation_split_makes_two_linked_datasets(box: Sandbox) -> None:
    dm, ts = send(box, ADMIN, "faq.jsonl", chat_jsonl(40), text="split=0.25")

    reply = final_reply(box, dm, ts, "Stored as")

    train, validation = datasets(box)
    assert validation.validation_for_id == train.id
    assert train.examples + validation.examples == 40 and validation.examples > 0
    assert "validation=ds-2" in reply


def test_an_unknown_option_is_named(box: Sandbox) -> None:
    dm, ts = send(box, ADMIN, "faq.jsonl", chat_jsonl(), text="epoch=3")

    reply = final_reply(box, dm, ts, "Unknown option")

    assert "`epoch=`" in reply and "`epochs=`" in reply
    assert datasets(box) == []


def test_the_file_name_still_guides_detection_after_the_download(box: Sandbox) -> None:
    # Plain text named .jsonl is broken JSONL (each line reported), not an unknown format.
    dm, ts = send(box, ADMIN, "notes.jsonl", b"hello world\n" * 12)

    reply = final_reply(box, dm, ts, "Nothing was stored")

    assert "`invalid_json` ×12" in reply and "lines 1, 2, 3" in reply
    assert "unknown_format" not in reply
