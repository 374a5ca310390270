"""The demo's feedback step: a 👍, a 👎 with a correction, and the datasets an admin builds."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

from sqlalchemy import func, select

from bot.feedback_views import CORRECTION_BLOCK, SUGGEST_ACTION
from emulators.sandbox import Sandbox
from storage.models import AnswerCorrection

Line = Callable[[str, str, str], None]


def play_feedback(
    box: Sandbox, out: TextIO, line: Line, *, admin: str, minji: str, jun: str, channel: str
) -> bool:
    """Rate two answers (one corrected), then build datasets; True if one was stored."""
    slack, bot = box.slack, f"<@{box.slack.bot_user_id}>"
    out.write("\n-- people rate answers; a 👎 becomes a correction\n")

    def ask(user: str, name: str, text: str) -> dict[str, Any]:
        asked = slack.post_as_user(user, channel, f"{bot} {text}")
        line("#general", name, f"@tunebot {text}")
        turn = box.wait_for_turn(channel, asked.ts)
        answer = box.replies_after(channel, asked.ts, asked.ts)[-1]
        line("#general", f"tunebot [{turn.model}]", answer["text"])
        return dict(answer)

    def thanks(user: str, seen: int) -> dict[str, Any]:
        shown = slack.wait_for(lambda: [e for e in slack.ephemeral if e["user"] == user][seen:])
        return shown[0]

    liked = ask(minji, "minji", "회의실 예약했어요?")
    slack.click_feedback(jun, channel, liked["ts"], positive=True)
    line("#general", "jun", "(clicks 👍 under the answer)")
    line("(only jun)", "tunebot", thanks(jun, 0)["text"])

    disliked = ask(minji, "minji", "오늘 당직 누구예요?")
    slack.click_feedback(minji, channel, disliked["ts"], positive=False)
    line("#general", "minji", "(clicks 👎 under the answer)")
    line("(only minji)", "tunebot", thanks(minji, 0)["text"])
    views = len(slack.views)
    slack.click_ephemeral_button(minji, SUGGEST_ACTION)
    view = slack.wait_for(lambda: list(slack.views.values())[views:])[0]
    line("(form)", "tunebot", f"{view['title']['text']}: prefilled with the answer")
    correction = "이번 주 당직은 준이에요. 급한 일은 #oncall 채널로 알려 주세요."
    typed = {"type": "plain_text_input", "value": correction}
    state = {"values": {CORRECTION_BLOCK: {CORRECTION_BLOCK: typed}}}
    slack.send_interaction(minji, {"type": "view_submission", "view": {**view, "state": state}})
    line("(form)", "minji", correction)
    slack.wait_for(lambda: _corrections(box) or None)

    # A dataset needs 10 examples or more, so the team rates a few more answers.
    for n in range(1, 10):
        asked = slack.post_as_user(minji, channel, f"{bot} 배포 체크리스트 {n}번 항목은?")
        box.wait_for_turn(channel, asked.ts)
        answer = box.replies_after(channel, asked.ts, asked.ts)[-1]
        slack.click_feedback(jun, channel, answer["ts"], positive=True)
    slack.wait_for(lambda: len([e for e in slack.ephemeral if e["user"] == jun]) >= 10 or None)
    line("#general", "team", "(9 more questions, each answer rated 👍)")

    out.write("\n-- an admin looks at the feedback and turns it into datasets\n")
    shown = ""
    for text in ("feedback", "feedback dataset"):
        shown = _command(box, admin, channel, text)
        line("#general", "admin", f"/finetune {text}")
        for row in shown.splitlines():
            if row.strip():
                line("(only admin)", "tunebot", row)
    return "Stored as *ds-" in shown


def _corrections(box: Sandbox) -> int:
    with box.deps.session_factory() as session:
        return int(session.scalar(select(func.count(AnswerCorrection.id))) or 0)


def _command(box: Sandbox, user: str, channel: str, text: str) -> str:
    before = len(box.slack.responses)
    _, body = box.slack.send_slash_command(user, channel, "/finetune", text)
    if body and '"text"' in body:
        return str(json.loads(body)["text"])
    return str(box.slack.wait_for(lambda: box.slack.responses[before:], timeout=60)[0]["text"])
