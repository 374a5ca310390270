"""`tunebot demo`: the whole loop against the emulators, printed as a transcript."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, TextIO

from emulators.sandbox import Sandbox

ADMIN = "U0DEMOADM"
CHANNEL = "C0DEMOGEN"

KAKAO_CSV = "Date,User,Message\n" + "".join(
    f'2026-10-{day:02d} 10:00:00,"민지","{question}"\n'
    f'2026-10-{day:02d} 10:01:00,"준","{answer}"\n'
    f'2026-10-{day:02d} 10:01:30,"준","이모티콘"\n'
    for day, (question, answer) in enumerate(
        [("배포 언제 해요?", "금요일 오후 세 시에 해요!")] * 6
        + [("오늘 당직 누구예요?", "이번 주는 제가 당직이에요 :)")] * 6
        + [("회의실 예약했어요?", "네, 3층 큰 회의실로 잡아뒀어요.")] * 6,
        start=1,
    )
)


def play(out: TextIO, keep: Path | None = None) -> int:
    """Run the session and write the transcript to `out`; 0 when every step worked."""
    logging.basicConfig(level=logging.WARNING)
    with Sandbox.open(
        admins=frozenset({ADMIN}), notify_channel=CHANNEL, run_scheduler=True, poll_seconds=1
    ) as box:
        return _play(box, out)


def _play(box: Sandbox, out: TextIO) -> int:
    slack = box.slack
    slack.add_user("admin", user_id=ADMIN)
    minji = slack.add_user("minji")
    jun = slack.add_user("jun")
    slack.add_channel("general", channel_id=CHANNEL)
    names = {minji: "minji", jun: "jun", ADMIN: "admin"}
    bot = f"<@{slack.bot_user_id}>"

    def line(where: str, who: str, text: str) -> None:
        flat = re.sub(r"\s+", " ", text).strip()
        out.write(f"{where:<18} {who}: {flat}\n")

    def ask(user: str, channel: str, text: str, where: str, thread: str | None = None) -> str:
        delivery = slack.post_as_user(user, channel, text, thread_ts=thread)
        line(where, names[user], text.replace(bot, "@tunebot"))
        turn = box.wait_for_turn(channel, delivery.ts)
        for reply in box.replies_after(channel, thread or delivery.ts, delivery.ts):
            line(where, f"tunebot [{turn.model}]", reply["text"])
        return delivery.ts

    out.write("tunebot demo: the real bot over HTTP, with emulated Slack and OpenAI APIs on\n")
    out.write("127.0.0.1; no credentials, no network.\n")
    out.write(f"database: {box.settings.database_url}\n\n")

    out.write("-- everyone talks to the base model\n")
    root = ask(minji, CHANNEL, f"{bot} when do we deploy on Fridays?", "#general")
    ask(jun, CHANNEL, "and who is on call this week?", "#general (thread)", thread=root)

    out.write("\n-- an admin sends a KakaoTalk export in a DM\n")
    dm = slack.open_dm(ADMIN)
    file = slack.add_file(ADMIN, "KakaoTalk_Chat_team.csv", KAKAO_CSV.encode("utf-8-sig"))
    sent = slack.post_as_user(ADMIN, dm, "", files=[file])
    line("DM", "admin", "(uploads KakaoTalk_Chat_team.csv)")
    picker = slack.wait_for(lambda: _bot_message(box, dm, sent.ts, lambda m: m.get("blocks")))
    line("DM", "tunebot", picker["text"])
    box.select_option(ADMIN, dm, picker, "준")
    line("DM", "admin", "(picks 준)")
    report = slack.wait_for(
        lambda: _bot_message(box, dm, sent.ts, lambda m: "Stored as" in (m.get("text") or "")),
        timeout=30,
    )
    for text in report["text"].splitlines():
        line("DM", "tunebot", text)

    out.write("\n-- the admin trains it, and the scheduler takes over\n")
    slack.send_slash_command(ADMIN, CHANNEL, "/finetune", "train ds-1 suffix=team")
    line("#general", "admin", "/finetune train ds-1 suffix=team")
    started = slack.wait_for(lambda: [r for r in slack.responses if "started" in r["text"]])
    line("#general", "tunebot", started[0]["text"])
    job_id = next(iter(box.openai.jobs))
    model = box.openai.succeed_job(job_id)
    line("(OpenAI)", "provider", f"{job_id} succeeded: {model}")
    news = slack.wait_for(
        lambda: _bot_message(box, CHANNEL, None, lambda m: model in (m.get("text") or "")),
        timeout=30,
    )
    for text in news["text"].splitlines():
        line("#general", "tunebot", text)
    charts = slack.wait_for(
        lambda: [u["filename"] for u in slack.uploads if u["channel"] == CHANNEL], timeout=30
    )
    line("#general", "tunebot", f"(uploads {', '.join(charts)})")

    out.write("\n-- the next question is answered by the new model\n")
    ts = ask(minji, CHANNEL, f"{bot} 배포 언제 해요?", "#general")
    turn = box.wait_for_turn(CHANNEL, ts)
    ok = turn.model == model and turn.outcome == "answered"
    out.write(
        f"\n{'The whole loop worked' if ok else 'Something went wrong'}: answered by "
        f"{turn.model}.\n"
    )
    return 0 if ok else 1


def _bot_message(box: Sandbox, channel: str, thread: str | None, match: Any) -> Any:
    for message in box.slack.messages(channel, thread):
        if message.get("bot_id") and match(message):
            return message
    return None
