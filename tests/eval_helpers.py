"""Helpers for the eval-gate tests: a Korean dataset with held-out data, a trained job, answers."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

from admin.evaluation.answering import ClientPool
from admin.poller import PollerDeps
from admin.providers.plugin import ChatEndpoint
from emulators.sandbox import Sandbox
from storage import job_repo
from storage.models import Dataset, Job
from tests.sandbox_helpers import ADMIN, command, final_reply, send

TOPICS = ("배포", "휴가 신청", "회의실 예약", "온보딩", "보안 점검", "비용 정산")


def korean_jsonl(n: int = 24) -> bytes:
    lines = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        lines.append(
            {
                "messages": [
                    {"role": "system", "content": "당신은 우리 팀의 친절한 도우미입니다."},
                    {"role": "user", "content": f"{topic}은 어떻게 하나요? (질문 {i})"},
                    {
                        "role": "assistant",
                        "content": f"{topic}은 매주 {i % 5 + 1}번째 날에 팀 위키의 절차대로 "
                        f"진행합니다. 담당자는 {i}번 채널에서 확인하세요.",
                    },
                ]
            }
        )
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


def add_dataset(box: Sandbox, text: str = "split=0.25") -> list[Dataset]:
    """DM the Korean dataset (held-out share with `split=`); the stored rows, training first."""
    dm, ts = send(box, ADMIN, "faq-ko.jsonl", korean_jsonl(), text=text)
    assert "Stored as" in final_reply(box, dm, ts, "Stored as", "Nothing was stored")
    with box.deps.session_factory() as session:
        rows = list(session.query(Dataset).order_by(Dataset.id))
    assert all(box.deps.store.has(row.sha256) for row in rows)  # intake keeps a copy
    return rows


def pairs(box: Sandbox, dataset: Dataset) -> dict[str, str]:
    """question -> reference answer of each example in a stored dataset."""
    path = box.deps.store.path(dataset.sha256)
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        messages = json.loads(line)["messages"]
        found[messages[1]["content"]] = messages[2]["content"]
    return found


def responses(box: Sandbox, needle: str, count: int = 1) -> list[dict[str, Any]]:
    """Command answers posted to a response_url that contain `needle` (waits for `count`)."""

    def found() -> list[dict[str, Any]] | None:
        hits = [r for r in box.slack.responses if needle in (r.get("text") or "")]
        return hits if len(hits) >= count else None

    return box.slack.wait_for(found, timeout=30)


def train(box: Sandbox, text: str = "train ds-1 validation=ds-2") -> Job:
    answer = command(box, text)
    assert "started *job-1*" in answer["text"], answer
    with box.deps.session_factory() as session:
        [job] = job_repo.list_jobs(session)
        return job


def announcements(box: Sandbox, channel: str) -> list[dict[str, Any]]:
    """The bot's job announcements (live, held back, failed) in a channel or DM."""
    return [
        m
        for m in box.slack.messages(channel)
        if m.get("bot_id") and (m.get("text") or "").startswith((":tada:", ":warning:", ":x:"))
    ]


def eval_requests(box: Sandbox, model: str, questions: set[str]) -> list[str]:
    """The held-out questions `model` was asked (temperature 0), in order."""
    asked = []
    for body in box.openai.chat_requests:
        if body.get("model") != model or body.get("temperature") != 0:
            continue
        users = [m["content"] for m in body["messages"] if m.get("role") == "user"]
        if users and users[-1] in questions:
            asked.append(users[-1])
    return asked


def within_slack_limits(blocks: list[dict[str, Any]]) -> bool:
    """Slack's published limits for a message's blocks."""
    if not blocks or len(blocks) > 50:
        return False
    for block in blocks:
        if block["type"] == "section":
            if len((block.get("text") or {}).get("text", "")) > 3000:
                return False
            fields = block.get("fields") or []
            if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
                return False
    return True


def trained(
    box: Sandbox, *, candidate: Any = "references", current: Any = None
) -> tuple[str, dict[str, str]]:
    """Held-out data, a job on it that succeeded, and scripted answers for both models:
    `candidate`/`current` are "references" (reproduce them) or a fixed answer; None leaves
    the model's answers as the emulator gives them."""
    rows = add_dataset(box)
    references = pairs(box, rows[1])
    train(box)
    with box.deps.session_factory() as session:
        [job] = session.query(Job).all()
    model = box.openai.succeed_job(job.provider_job_id)
    for name, script in ((model, candidate), (box.settings.base_model, current)):
        if script == "references":
            box.openai.script(name, references)
        elif script is not None:
            box.openai.script(name, lambda m, msgs, text=script: text)
    return model, references


def tuned(poller: PollerDeps, **changes: Any) -> PollerDeps:
    """The poller with its evaluation settings changed (concurrency, tries, ...)."""
    assert poller.evaluation is not None
    config = dataclasses.replace(poller.evaluation.config, **changes)
    poller.evaluation = dataclasses.replace(poller.evaluation, config=config)
    return poller


class ProcessDied(BaseException):
    """What a killed process looks like from inside: nothing after this point runs."""


class DiesAfter(ClientPool):
    """Hands out clients for `answers` requests, then the process dies."""

    def __init__(self, answers: int) -> None:
        super().__init__()
        self.left = answers
        self.lock = threading.Lock()

    def get(self, endpoint: ChatEndpoint) -> Any:
        with self.lock:
            if self.left == 0:
                raise ProcessDied()
            self.left -= 1
        return super().get(endpoint)
