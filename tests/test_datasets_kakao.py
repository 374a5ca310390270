"""KakaoTalk exports -> multi-turn chat examples that end on the chosen speaker's reply."""

from __future__ import annotations

import json

import pytest

try:  # tests/ may or may not be a package; the helpers import either way
    from tests.datasets_helpers import KAKAO_CSV, codes, kakao_csv_lines
except ImportError:
    from datasets_helpers import KAKAO_CSV, codes, kakao_csv_lines  # type: ignore[no-redef]

from admin.datasets import analyze, detect_format, list_speakers, prepare

PC_TXT = """김철수 님과 카카오톡 대화
저장한 날짜 : 2026-10-02 18:00:00

--------------- 2026년 10월 2일 금요일 ---------------
[김철수] [오후 3:42] 안녕
[김철수] [오후 3:42] 뭐해?
[나] [오후 3:43] 그냥 있어
둘째 줄
[나] [오후 3:44] 이모티콘
김철수님이 나갔습니다.
[김철수] [오후 5:00] 저녁 먹자
[나] [오후 5:01] 좋아
"""
ANDROID_TXT = """김철수 님과 카카오톡 대화
저장한 날짜 : 2026년 10월 2일 오후 6:00

2026년 10월 2일 금요일
2026년 10월 2일 오후 3:15, 김철수 : 안녕
2026년 10월 2일 오후 3:16, 나 : 반가워
여러 줄
2026년 10월 2일 오후 3:17, 박영희님이 들어왔습니다.
2026년 10월 2일 오후 3:18, 김철수 : 사진 3장
2026년 10월 2일 오후 3:19, 나 : 삭제된 메시지입니다.
"""
IOS_TXT = """2026. 10. 2. 오후 3:15, 김철수 : 안녕
2026. 10. 2. 오후 3:16, 나 : 반가워
"""


def _examples(source: bytes, **options: object) -> list[dict]:
    prepared = prepare(source, **options)  # type: ignore[arg-type]
    try:
        return [json.loads(line) for line in prepared.read_bytes().splitlines()]
    finally:
        prepared.cleanup()


def _turns(example: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in example["messages"][1:]]


def test_detects_the_three_txt_exports() -> None:
    assert detect_format(PC_TXT.encode()) == "kakao_pc"
    assert detect_format(ANDROID_TXT.encode()) == "kakao_android"
    assert detect_format(IOS_TXT.encode()) == "kakao_ios"


def test_kakao_txt_format_name_finds_the_variant() -> None:
    report = analyze(ANDROID_TXT.encode(), fmt="kakao_txt", assistant="나")
    assert report.format == "kakao_android"


def test_list_speakers_counts_messages_most_first() -> None:
    assert list_speakers(KAKAO_CSV.encode()) == [("Csv", 3), ("Json", 3)]
    assert list_speakers(PC_TXT.encode()) == [("김철수", 3), ("나", 2)]


def test_list_speakers_of_a_non_kakao_file_is_empty() -> None:
    assert list_speakers(b'{"messages": []}\n') == []


def test_consecutive_messages_of_one_speaker_merge_with_newlines() -> None:
    first = _examples(KAKAO_CSV.encode(), assistant="Csv")[0]
    assert _turns(first) == [("user", "하이\n뭐함"), ("assistant", "ㅋㅋㅋㅋ 밥먹음\n왜")]


def test_silence_longer_than_the_limit_starts_a_new_example() -> None:
    assert len(_examples(KAKAO_CSV.encode(), assistant="Csv")) == 2
    assert len(_examples(KAKAO_CSV.encode(), assistant="Csv", silence_minutes=180)) == 1


def test_media_placeholders_are_dropped() -> None:
    examples = _examples(KAKAO_CSV.encode(), assistant="Csv")
    assert all("사진" not in m["content"] for e in examples for m in e["messages"])


def test_multi_line_csv_message_stays_one_message() -> None:
    last = _examples(KAKAO_CSV.encode(), assistant="Csv")[-1]
    assert _turns(last) == [("user", "저녁은?"), ("assistant", "아직\n안 먹었어")]


def test_examples_start_with_system_prompt_and_end_on_assistant() -> None:
    examples = _examples(KAKAO_CSV.encode(), assistant="Csv", system_prompt="너는 Csv야.")
    for example in examples:
        assert example["messages"][0] == {"role": "system", "content": "너는 Csv야."}
        assert example["messages"][-1]["role"] == "assistant"


def test_trailing_turns_of_others_are_dropped() -> None:
    # Picking Json: the conversation ends with Csv's lines, which Json never answers.
    examples = _examples(KAKAO_CSV.encode(), assistant="Json")
    assert examples == []


def test_leading_assistant_turns_are_dropped() -> None:
    text = 'Date,User,Message\n2022-12-17 13:00:00,"B","먼저 말함"\n'
    text += '2022-12-17 13:01:00,"A","응?"\n2022-12-17 13:02:00,"B","그냥"\n'
    (example,) = _examples(text.encode(), assistant="B")
    assert _turns(example) == [("user", "응?"), ("assistant", "그냥")]


def test_pc_txt_multi_line_and_system_lines() -> None:
    first, second = _examples(PC_TXT.encode(), assistant="나")
    assert _turns(first) == [("user", "안녕\n뭐해?"), ("assistant", "그냥 있어\n둘째 줄")]
    assert _turns(second) == [("user", "저녁 먹자"), ("assistant", "좋아")]


def test_android_txt_drops_joins_photos_and_deleted_messages() -> None:
    (example,) = _examples(ANDROID_TXT.encode(), assistant="나")
    assert _turns(example) == [("user", "안녕"), ("assistant", "반가워\n여러 줄")]


def test_ios_txt() -> None:
    (example,) = _examples(IOS_TXT.encode(), assistant="나")
    assert _turns(example) == [("user", "안녕"), ("assistant", "반가워")]


def test_english_media_placeholders_are_dropped() -> None:
    text = 'Date,User,Message\n2022-12-17 13:00:00,"A","Photo"\n2022-12-17 13:00:01,"A","hi"\n'
    text += '2022-12-17 13:01:00,"B","This message was deleted."\n2022-12-17 13:02:00,"B","yo"\n'
    (example,) = _examples(text.encode(), assistant="B")
    assert _turns(example) == [("user", "hi"), ("assistant", "yo")]


def test_cp949_csv_export() -> None:
    report = analyze(kakao_csv_lines(12).encode("cp949"), assistant="Csv")
    assert report.format == "kakao_csv"
    assert report.valid
    assert report.examples == 12


def test_utf8_bom_csv_export() -> None:
    report = analyze(b"\xef\xbb\xbf" + kakao_csv_lines(12).encode(), assistant="Csv")
    assert report.valid


def test_without_assistant_the_report_lists_speakers() -> None:
    report = analyze(KAKAO_CSV.encode())
    assert codes(report.errors) == ["assistant_required"]
    assert "Csv (3)" in report.errors.listed[0].message
    assert report.speakers == [("Csv", 3), ("Json", 3)]


def test_unknown_assistant_name() -> None:
    report = analyze(KAKAO_CSV.encode(), assistant="Nobody")
    assert codes(report.errors) == ["assistant_not_found"]


def test_assistant_name_matches_ignoring_case() -> None:
    assert analyze(kakao_csv_lines(12).encode(), assistant="csv").valid


def test_group_chat_prefixes_user_turns_with_names() -> None:
    text = 'Date,User,Message\n2022-12-17 13:00:00,"A","hi"\n2022-12-17 13:00:10,"C","hey"\n'
    text += '2022-12-17 13:01:00,"B","hello both"\n'
    (example,) = _examples(text.encode(), assistant="B")
    assert _turns(example) == [("user", "A: hi\nC: hey"), ("assistant", "hello both")]


def test_csv_that_is_not_a_kakao_export() -> None:
    report = analyze(b"Time,Who,Text\n1,2,3\n", fmt="kakao_csv", assistant="x")
    assert codes(report.errors) == ["not_kakao_csv"]


def test_conversion_counts_what_was_dropped() -> None:
    report = analyze(ANDROID_TXT.encode(), assistant="나")
    assert report.conversion["media_messages"] == 2
    assert report.conversion["system_lines"] >= 1


def test_pc_lines_that_only_read_like_notices_stay_in_the_message() -> None:
    text = "--------------- Friday, January 5, 2024 ---------------\n"
    text += "[A] [3:12 PM] where were you?\n[B] [3:13 PM] home\nJun left.\nso it is quiet\n"
    text += "I left.\nMom invited us over.\nSora left.\n\nMinji invited 수지 and 지민.\n"
    text += "[A] [3:14 PM] ok\n"
    (example,) = _examples(text.encode(), assistant="B")
    # "Jun left." has more of the message after it; the last two notices have none.
    kept = "home\nJun left.\nso it is quiet\nI left.\nMom invited us over."
    assert _turns(example) == [("user", "where were you?"), ("assistant", kept)]


def test_a_message_that_ends_like_a_notice_is_kept() -> None:
    text = "2024. 1. 5. 오후 3:12, 민지 : 뭐 했어?\n"
    text += "2024. 1. 5. 오후 3:13, 준 : 어제 친구를 초대했습니다.\n"
    (example,) = _examples(text.encode(), assistant="준")
    assert _turns(example) == [("user", "뭐 했어?"), ("assistant", "어제 친구를 초대했습니다.")]


def test_a_message_whose_text_starts_on_the_next_line() -> None:
    text = "2024. 1. 5. 오후 3:12, 민지 :\n목록\n- 우유\n2024. 1. 5. 오후 3:13, 준 : 알겠어\n"
    (example,) = _examples(text.encode(), assistant="준")
    assert _turns(example) == [("user", "목록\n- 우유"), ("assistant", "알겠어")]


PLACEHOLDERS = (
    "사진", "사진 3장", "(사진)", "<사진>", "동영상", "이모티콘", "(이모티콘)", "음성메시지",
    "파일: 회의록.pdf", "삭제된 메시지입니다.", "Photo", "3 photos", "(Photo)", "<Photo>",
    "<Photo Unread>", "<Video Unread>", "Emoticons", "File: notes.pdf",
    "This message was deleted.",
)  # fmt: skip


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_a_placeholder_alone_is_dropped_and_the_next_message_kept(placeholder: str) -> None:
    text = (
        f"2024년 1월 5일 오후 3:12, 민지 : 봐봐\n2024년 1월 5일 오후 3:12, 민지 : {placeholder}\n"
    )
    text += "2024년 1월 5일 오후 3:13, 준 : 예쁘다\n2024년 1월 5일 오후 3:14, 준 : 사진 보여줘\n"
    (example,) = _examples(text.encode(), assistant="준")
    assert _turns(example) == [("user", "봐봐"), ("assistant", "예쁘다\n사진 보여줘")]
