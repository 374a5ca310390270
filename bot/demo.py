"""`tunebot demo`: a scripted Slack session against the emulators, printed as a transcript."""

from __future__ import annotations

import logging
import re
from typing import TextIO

from bot.sandbox import Sandbox


def play(out: TextIO) -> int:
    """Run the session and write the transcript to `out`; 0 when every question was answered."""
    logging.basicConfig(level=logging.WARNING)
    with Sandbox.open() as box:
        slack = box.slack
        minji = slack.add_user("minji")
        jun = slack.add_user("jun")
        general = slack.add_channel("general")
        bot = f"<@{slack.bot_user_id}>"
        names = {minji: "minji", jun: "jun"}

        out.write("tunebot demo: the real bot over HTTP, an emulated Slack workspace and\n")
        out.write("an emulated OpenAI API on 127.0.0.1; no credentials, no network.\n")
        out.write(f"database: {box.settings.database_url}\n")
        out.write(f"active model: {box.settings.base_model}\n\n")

        answered = 0

        def say(user: str, channel: str, text: str, label: str, thread: str | None = None) -> str:
            nonlocal answered
            delivery = slack.post_as_user(user, channel, text, thread_ts=thread)
            shown = text.replace(bot, "@tunebot")
            out.write(f"{label} {names[user]}: {shown}\n")
            turn = box.wait_for_turn(channel, delivery.ts)
            for reply in box.replies_after(channel, thread or delivery.ts, delivery.ts):
                out.write(f"{label} tunebot [{turn.model}]: {_one_line(reply['text'])}\n")
            answered += turn.outcome == "answered"
            return delivery.ts

        root = say(minji, general, f"{bot} when do we deploy on Fridays?", "#general")
        say(jun, general, "and who is on call this week?", "#general (thread)", thread=root)
        dm = slack.open_dm(jun)
        say(jun, dm, "can you summarise the release checklist?", "DM")
        out.write(f"\n{answered} of 3 questions answered.\n")
        return 0 if answered == 3 else 1


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
