"""An iPhone KakaoTalk export (Korean app), DMed to the bot or converted with `tunebot dataset`.

iOS writes notices as "2024. 1. 1. 오전 9:04: Sora님이 나갔습니다." under no name; they used to
be glued onto the message before them, which was then dropped as a notice, turns and all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.kakao_shapes import SHAPES, Event, Media, Notice, Said
except ImportError:
    from kakao_shapes import SHAPES, Event, Media, Notice, Said  # type: ignore[no-redef]

from bot.cli import main
from emulators.sandbox import Sandbox
from storage import upload_repo
from storage.models import Dataset

ADMIN = "UADMIN001"
DAYS = 12  # one conversation a day: enough examples for a valid dataset


def _day(n: int) -> list[Event]:
    """A morning's talk with a notice first, in the middle and last, and a photo and a file."""
    at = datetime(2024, 1, 1, 9, 0) + timedelta(days=n)

    def t(minutes: int) -> datetime:
        return at + timedelta(minutes=minutes)

    return [
        Notice(t(0), "Sora", ()),
        Said(t(1), "민지", f"{n}번째 배포 언제야?\n오늘 안에 가능?"),
        Media(t(2), "민지", "photo"),
        Said(t(3), "Jun Park", f"오후 {n % 5 + 1}시에 해요\n끝나면 알려줄게요"),
        Notice(t(4), "민지", ("Sora",)),
        Said(t(5), "민지", "고마워요"),
        Media(t(6), "Jun Park", "file"),
        Said(t(7), "Jun Park", f"배포 {n}번 완료"),
        Notice(t(8), "Sora", ()),
    ]


def _expected(n: int) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"{n}번째 배포 언제야?\n오늘 안에 가능?"},
        {"role": "assistant", "content": f"오후 {n % 5 + 1}시에 해요\n끝나면 알려줄게요"},
        {"role": "user", "content": "고마워요"},
        {"role": "assistant", "content": f"배포 {n}번 완료"},
    ]


IOS_KO = next(shape for shape in SHAPES if shape.name == "ios_ko.txt")
EXPORT = IOS_KO.render([event for n in range(DAYS) for event in _day(n)]).encode("utf-8")


def _turns(jsonl: bytes) -> list[list[dict[str, str]]]:
    return [json.loads(line)["messages"][1:] for line in jsonl.splitlines()]


@pytest.fixture
def box(database_url: str) -> Iterator[Sandbox]:
    with Sandbox.open(database_url=database_url, admins=frozenset({ADMIN})) as sandbox:
        sandbox.slack.add_user("admin", user_id=ADMIN)
        yield sandbox


def test_an_ios_export_dmed_to_the_bot_keeps_every_turn_and_no_notice(box: Sandbox) -> None:
    dm = box.slack.open_dm(ADMIN)
    # The name a phone gives an export: Korean, with spaces (percent-encoded in url_private).
    file = box.slack.add_file(ADMIN, "KakaoTalk_20240107_0930_민지와 대화.txt", EXPORT)
    ts = box.slack.post_as_user(ADMIN, dm, 'assistant="Jun Park"', files=[file]).ts

    def reply() -> str | None:
        texts = [m.get("text") or "" for m in box.slack.messages(dm, ts) if m.get("bot_id")]
        return next((t for t in texts if "Stored as" in t or "Nothing was stored" in t), None)

    assert "Stored as *ds-1*" in box.slack.wait_for(reply, timeout=20)
    with box.deps.session_factory() as session:
        [row] = session.query(Dataset).all()
        [upload] = upload_repo.uploads_of(session, dataset_id=row.id)
    assert (row.examples, row.report["format"]) == (DAYS, "kakao_ios")
    assert upload.file_id is not None
    uploaded = box.openai.files[upload.file_id][1]
    assert _turns(uploaded) == [_expected(n) for n in range(DAYS)]
    assert "나갔습니다" not in uploaded.decode() and "초대했습니다" not in uploaded.decode()


def test_tunebot_dataset_convert_on_the_same_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "KakaoTalk_Chat.txt", tmp_path / "train.jsonl"
    source.write_bytes(EXPORT)
    argv = ["dataset", "convert", str(source), "-o", str(out), "--assistant", "Jun Park"]
    assert main(argv) == 0
    assert f"Wrote {DAYS} examples" in capsys.readouterr().err
    assert _turns(out.read_bytes()) == [_expected(n) for n in range(DAYS)]
