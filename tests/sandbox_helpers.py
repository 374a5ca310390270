"""Helpers for tests that drive the bot through the sandbox: datasets DM'd, commands, answers."""

from __future__ import annotations

import json
import threading
from typing import Any

from admin.poller import PollerDeps, tick
from emulators.sandbox import Sandbox
from storage import job_repo
from storage.models import Job

ADMIN = "UADMIN001"
NOTIFY = "C0NOTIFY01"


def chat_jsonl(n: int = 12, *, topic: str = "deploys") -> bytes:
    lines = [
        {
            "messages": [
                {"role": "system", "content": "You are the team's helpful bot."},
                {"role": "user", "content": f"Question {i} about {topic}?"},
                {"role": "assistant", "content": f"Answer {i}: we do {topic} on Tuesdays."},
            ]
        }
        for i in range(n)
    ]
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


def send(box: Sandbox, user: str, name: str, content: bytes, text: str = "") -> tuple[str, str]:
    """DM a file to the bot as `user`; the DM's channel and the message's ts."""
    dm = box.slack.open_dm(user)
    file = box.slack.add_file(user, name, content)
    delivery = box.slack.post_as_user(user, dm, text, files=[file])
    return dm, delivery.ts


def final_reply(box: Sandbox, dm: str, ts: str, *needles: str) -> str:
    """The bot's first reply in the thread at `ts` that holds one of `needles`."""

    def done() -> str | None:
        for message in box.slack.messages(dm, ts):
            text = message.get("text") or ""
            if message.get("bot_id") and any(n in text for n in needles):
                return text
        return None

    return box.slack.wait_for(done, timeout=20)


def upload(box: Sandbox, n: int = 12) -> str:
    """DM a valid dataset of `n` examples as the admin; the id it was stored as."""
    dm, ts = send(box, ADMIN, f"faq-{n}.jsonl", chat_jsonl(n))
    assert "Stored as" in final_reply(box, dm, ts, "Stored as", "Nothing was stored")
    return "ds-1" if n == 12 else final_reply(box, dm, ts, "Stored as").split("*")[1]


def command(box: Sandbox, text: str, user: str = ADMIN) -> dict[str, Any]:
    """Run a slash command and return what the bot answered (ack, or its response_url post)."""
    before = len(box.slack.responses)
    status, body = box.slack.send_slash_command(user, NOTIFY, "/finetune", text)
    assert status == 200
    if body:
        answer = json.loads(body)
        if answer.get("text"):
            return dict(answer)
    return box.slack.wait_for(lambda: box.slack.responses[before:], timeout=20)[0]


def only_job(box: Sandbox) -> Job:
    with box.deps.session_factory() as session:
        [job] = job_repo.list_jobs(session)
        return job


def channel_texts(box: Sandbox, channel: str) -> list[str]:
    """The bot's job announcements (not the replies to commands) in a channel or DM."""
    return [
        m.get("text") or ""
        for m in box.slack.messages(channel)
        if m.get("bot_id") and (m.get("text") or "").startswith((":tada:", ":x:", ":warning:"))
    ]


def tick_at_once(*pollers: PollerDeps) -> None:
    """One tick of each scheduler, all started together (as replicas would)."""
    barrier = threading.Barrier(len(pollers))

    def run(poller: PollerDeps) -> None:
        barrier.wait()
        tick(poller)

    threads = [threading.Thread(target=run, args=(p,)) for p in pollers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
