"""Block Kit for a job's plan message: one section per task, its state as an emoji.

The message is edited in place for hours, so it is plain Block Kit (chat.postMessage, then
chat.update): Slack's plan and task chunks live only inside a stream, which Slack ends on its
own within minutes of the last append (see README, "Training shown as a plan").
"""

from __future__ import annotations

from typing import Any

from admin.plans import Plan, TaskStatus

MARKS = {
    TaskStatus.PENDING: ":white_circle:",
    TaskStatus.IN_PROGRESS: ":hourglass_flowing_sand:",
    TaskStatus.COMPLETE: ":white_check_mark:",
    TaskStatus.ERROR: ":x:",
}
HEADER_CHARS = 150  # a header block's plain_text


def build_plan_message(plan: Plan) -> tuple[str, list[dict[str, Any]]]:
    """(notification text, blocks). Block ids carry the version: Slack asks for new ones
    each time a message is updated."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "block_id": f"title.{plan.version}",
            "text": {"type": "plain_text", "text": _clip(plan.title, HEADER_CHARS)},
        }
    ]
    for task in plan.tasks:
        line = f"{MARKS[task.status]} *{_escape(task.title)}*"
        if task.detail:
            line += f"\n{_escape(task.detail)}"
        blocks.append(
            {
                "type": "section",
                "block_id": f"{task.id}.{plan.version}",
                "text": {"type": "mrkdwn", "text": line},
            }
        )
    blocks.append(
        {
            "type": "context",
            "block_id": f"about.{plan.version}",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"This message follows {plan.job} as it moves on. "
                    f"`/finetune status {plan.job}` shows the provider's view.",
                }
            ],
        }
    )
    return plan.title, blocks


def _escape(text: str) -> str:
    # Slack's three control characters in mrkdwn; provider error messages may hold them.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
