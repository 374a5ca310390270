"""`tunebot demo`: the whole loop against the emulators, printed as a transcript."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from emulators.demo_feedback import play_feedback
from emulators.openai_chat import text_of
from emulators.sandbox import Sandbox

ADMIN = "U0DEMOADM"
CHANNEL = "C0DEMOGEN"

# A team chat as KakaoTalk exports it: one conversation a day, each asked and answered once
# (a repeated example would be flagged as a duplicate), with the emoticon placeholders
# KakaoTalk writes for stickers, which conversion drops.
TEAM_CHAT = [
    ("배포 언제 해요?", "금요일 오후 세 시에 해요!"),
    ("오늘 당직 누구예요?", "이번 주는 제가 당직이에요 :)"),
    ("회의실 예약했어요?", "네, 3층 큰 회의실로 잡아뒀어요."),
    ("점심 뭐 먹을까요?", "오늘은 국밥 어때요?"),
    ("스탠드업 몇 시예요?", "매일 아침 열 시 반이에요."),
    ("코드 리뷰 부탁해도 될까요?", "네, 링크 주시면 오후에 볼게요."),
    ("서버 로그 어디서 봐요?", "그라파나 대시보드에 다 있어요."),
    ("휴가 신청은 어디서 해요?", "인사 시스템에서 하시면 돼요."),
    ("테스트 다 통과했어요?", "네, CI 전부 초록불이에요."),
    ("회고 언제 해요?", "스프린트 끝나는 목요일에 해요."),
    ("신규 입사자 온보딩 누가 해요?", "제가 맡을게요."),
    ("장애 보고서 썼어요?", "초안을 공유 드라이브에 올려뒀어요."),
    ("데이터베이스 백업 확인했어요?", "어젯밤 백업 정상이에요."),
    ("워크숍 장소 정해졌어요?", "강남 공유 오피스로 정했어요."),
    ("릴리스 노트 누가 써요?", "이번엔 제가 쓸게요."),
    ("모니터링 알림이 너무 많아요.", "임계값을 조정해 볼게요."),
    ("디자인 시안 나왔어요?", "내일 오전에 공유될 거예요."),
    ("이번 달 회식 언제예요?", "다음 주 금요일 저녁이에요."),
]
KAKAO_CSV = "Date,User,Message\n" + "".join(
    f'2026-10-{day:02d} 10:00:00,"민지","{question}"\n'
    f'2026-10-{day:02d} 10:01:00,"준","{answer}"\n'
    f'2026-10-{day:02d} 10:01:30,"준","이모티콘"\n'
    for day, (question, answer) in enumerate(TEAM_CHAT, start=1)
)


def reply(model: str, messages: list[dict[str, Any]]) -> str:
    """The emulated models' answers: a fine-tune answers what it learned, in 준's words."""
    last = next((text_of(m) for m in reversed(messages) if m.get("role") == "user"), "")
    asked = " ".join(last.split())
    if model.startswith("ft:"):
        return dict(TEAM_CHAT).get(asked, "확인해 보고 알려드릴게요!")
    return f"I can't tell how your team does that yet (you asked: {asked[:80]!r})."


def play(out: TextIO, keep: Path | None = None) -> int:
    """Run the session and write the transcript to `out`; 0 when every step worked.

    With `keep`, the database and the loss chart are left in that folder.
    """
    logging.basicConfig(level=logging.WARNING)
    # Polling every second, a tick that runs long makes the next one skip: expected here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    database_url = None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{keep.resolve() / 'tunebot.db'}"
    with Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=CHANNEL,
        run_scheduler=True,
        poll_seconds=1,
    ) as box:
        box.openai.reply = reply
        code = _play(box, out)
        if keep is not None:
            kept = ["tunebot.db"]
            for upload in box.slack.uploads:
                (keep / upload["filename"]).write_bytes(upload["bytes"])
                kept.append(upload["filename"])
            out.write(f"kept in {keep}: {', '.join(kept)}\n")
        return code


def _play(box: Sandbox, out: TextIO) -> int:
    slack = box.slack
    slack.add_user("admin", user_id=ADMIN)
    minji = slack.add_user("minji")
    jun = slack.add_user("jun")
    slack.add_channel("general", channel_id=CHANNEL)
    names = {minji: "minji", jun: "jun", ADMIN: "admin", slack.bot_user_id: "tunebot"}
    bot = f"<@{slack.bot_user_id}>"

    def line(where: str, who: str, text: str) -> None:
        transcript_line(out, names, where, who, text)

    def ask(user: str, channel: str, text: str, where: str, thread: str | None = None) -> str:
        delivery = slack.post_as_user(user, channel, text, thread_ts=thread)
        line(where, names[user], text)
        turn = box.wait_for_turn(channel, delivery.ts)
        # An answer may span several messages; the model that wrote it is named on the first.
        for n, part in enumerate(box.replies_after(channel, thread or delivery.ts, delivery.ts)):
            line(where, "tunebot" if n else f"tunebot [{turn.model}]", part["text"])
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

    rated = play_feedback(box, out, line, admin=ADMIN, minji=minji, jun=jun, channel=CHANNEL)
    ok = ok and rated
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


def play_local(out: TextIO) -> int:
    """`tunebot demo --local`: real training of a tiny model, served by an emulated vLLM."""
    from emulators.demo_local import play_local as run_local

    return run_local(out)


# -- the transcript shows Slack mrkdwn as a person sees it in the client, in plain text

# Slack's reference, "Formatting text for app surfaces": <@U...>, <#C...|name>, <!here>,
# <!subteam^ID|@handle>, <url|label>, *bold*, _italic_, ~strike~, `code`; &, <, > escaped.
_ANGLE = re.compile(r"<([^<>]+)>")
# Markers count only at word edges, as Slack reads them: snake_case and 2 * 3 stay as they are.
_STYLES = [
    re.compile(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]*?\S){m}(?![\w{m}])") for m in (r"\*", "_", "~")
]
_CODE = re.compile(r"(`[^`\n]+`)")
# The emoji codes tunebot's messages use, as Slack draws them; a code between words or in
# `code` (ft:gpt-4o-mini:org:x:id) stays text, and an unknown (custom) code keeps its name.
EMOJI = {
    "tada": "🎉",
    "white_check_mark": "✅",
    "x": "❌",
    "warning": "⚠️",
    "hourglass": "⌛",
    "moneybag": "💰",
    "arrow_up": "⬆️",
    "+1": "👍",
    "-1": "👎",
}
_EMOJI = re.compile(r"(?<![\w:]):([a-z0-9_+-]+):(?![\w:])")


def as_seen(text: str, names: Mapping[str, str]) -> str:
    """`<@U0ADM> started *job-1* :tada:` -> `@admin started job-1 🎉`."""
    text = _ANGLE.sub(lambda found: _entity(found.group(1), names), text)
    text = "".join(
        piece[1:-1] if _CODE.fullmatch(piece) else _EMOJI.sub(_emoji, piece)
        for piece in _CODE.split(text)
    )
    for style in _STYLES:
        text = style.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _emoji(found: re.Match[str]) -> str:
    return EMOJI.get(found.group(1), found.group(0))


def transcript_line(out: TextIO, names: Mapping[str, str], where: str, who: str, text: str) -> None:
    """One message of a demo's transcript, as the Slack client shows it, on one line."""
    flat = re.sub(r"\s+", " ", as_seen(text, names)).strip()
    out.write(f"{where:<18} {who}: {flat}\n")


def _entity(inner: str, names: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return f"@{names.get(target[1:], label or target[1:])}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!subteam^"):
        return label or "@group"
    if target.startswith("!"):
        return f"@{target[1:]}"
    return label or target
