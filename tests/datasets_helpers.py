"""Small datasets built in code for the dataset engine's tests."""

from __future__ import annotations

import json
from typing import Any

SYSTEM = "You are a helpful assistant."


def chat(user: str = "안녕하세요?", reply: str = "Hello! How can I help?", **extra: Any) -> dict:
    example: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
            {"role": "assistant", "content": reply},
        ]
    }
    example.update(extra)
    return example


def jsonl(examples: list[Any]) -> bytes:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples).encode()


def chat_file(n: int = 12, *, start: int = 0) -> bytes:
    """n distinct valid chat examples, one per line."""
    return jsonl([chat(f"question {i}", f"answer number {i}") for i in range(start, start + n)])


def with_line(base: bytes, example: Any) -> bytes:
    """`base` followed by one more line (an object, or raw text when a str)."""
    line = example if isinstance(example, str) else json.dumps(example, ensure_ascii=False)
    return base + line.encode() + b"\n"


def codes(issues: Any) -> list[str]:
    return [issue.code for issue in issues.listed]


KAKAO_CSV = """Date,User,Message
2022-12-17 13:55:24,"Json","하이"
2022-12-17 13:55:27,"Json","뭐함"
2022-12-17 14:28:23,"Csv","ㅋㅋㅋㅋ 밥먹음"
2022-12-17 14:28:30,"Csv","왜"
2022-12-17 14:29:00,"Csv","사진"
2022-12-17 16:29:30,"Json","저녁은?"
2022-12-17 16:30:30,"Csv","아직
안 먹었어"
"""


def kakao_csv_lines(conversations: int, assistant: str = "Csv", other: str = "Json") -> str:
    """A CSV export with `conversations` exchanges two hours apart."""
    rows = ["Date,User,Message"]
    for i in range(conversations):
        hour = i * 2
        day, hour = 1 + hour // 24, hour % 24
        stamp = f"2022-12-{day:02d} {hour:02d}"
        rows.append(f'{stamp}:00:00,"{other}","질문 {i}"')
        rows.append(f'{stamp}:01:00,"{assistant}","대답 {i}"')
    return "\n".join(rows) + "\n"
