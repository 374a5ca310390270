"""Slack's agent messaging experience, driven through the Slack emulator over HTTP.

Opening the DM greets once and offers the suggested prompts admins chose; the thread shows
a status while the model works, set off the reply's path and cleared as Slack documents; a
DM thread gets a title; a workspace without these methods still gets every answer. And the
manifest a user pastes is one Slack accepts, granting what all of this needs.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from admin.prompts import DEFAULT_PROMPTS, PROMPTS_TITLE
from bot.agent import LOADING_MESSAGES, SET_PROMPTS, SET_STATUS, SET_TITLE, STATUS
from emulators.sandbox import Sandbox
from emulators.slack_state import AssistantThread
from storage.models import AuditEntry, Turn

ADMIN = "UADMIN001"
MANIFEST = Path(__file__).parent.parent / "slack-manifest.yaml"
DEFAULTS = [p._asdict() for p in DEFAULT_PROMPTS]


@pytest.fixture
def box(database_url: str) -> Iterator[Sandbox]:
    with Sandbox.open(database_url=database_url, admins=frozenset({ADMIN})) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        yield b


def _calls(box: Sandbox, method: str) -> list[dict[str, Any]]:
    return [c.params for c in box.slack.calls if c.method == method]


def _finetune(box: Sandbox, user: str, text: str) -> str:
    """What the admin (or not) is told, whether in the ack or through the response_url."""
    before = len(box.slack.responses)
    status, body = box.slack.send_slash_command(user, box.slack.open_dm(user), "/finetune", text)
    assert status == 200
    answer = json.loads(body) if body else {}
    if answer.get("text"):
        return str(answer["text"])
    return str(box.slack.wait_for(lambda: box.slack.responses[before:])[0]["text"])


def _open_dm(box: Sandbox, user: str) -> list[dict[str, str]]:
    """Open the DM as `user`; the prompts then offered there."""
    before = len(_calls(box, SET_PROMPTS))
    assert box.slack.open_app_home(user, "messages").statuses == [200]
    box.slack.wait_for(lambda: len(_calls(box, SET_PROMPTS)) > before)
    return box.slack.assistant_thread(box.slack.open_dm(user)).prompts


def _settle(box: Sandbox) -> None:
    """Wait until every status and title call in flight has finished."""
    workers = box.deps.agent.workers
    barrier = threading.Barrier(workers)
    for future in [box.deps.agent.executor.submit(barrier.wait, 10) for _ in range(workers)]:
        future.result()


def _model_waits_for(box: Sandbox, ready: Any) -> None:
    """The model answers only once `ready()` holds: a slow model, as slow as the test needs."""

    def reply(model: str, messages: list[dict[str, Any]]) -> str:
        box.slack.wait_for(ready, timeout=10)
        return "Refunds take five working days."

    box.openai.script(box.settings.base_model, reply)


def _ask_in_a_new_dm(box: Sandbox) -> tuple[list[dict[str, str]], Turn, AssistantThread]:
    """A new person opens the DM and asks, the model slow enough for the status to show:
    the prompts offered, the answer's turn, and what the thread was set."""
    user = box.slack.add_user("minji")
    dm = box.slack.open_dm(user)
    asked: list[str] = []
    _model_waits_for(box, lambda: asked and box.slack.assistant_thread(dm, asked[0]).status)

    offered = _open_dm(box, user)
    asked.append(box.slack.post_as_user(user, dm, "What is our refund policy?").ts)
    turn = box.wait_for_turn(dm, asked[0])
    _settle(box)
    return offered, turn, box.slack.assistant_thread(dm, asked[0])


def test_opening_the_dm_greets_once_and_offers_the_default_prompts(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    dm = box.slack.open_dm(user)

    first = _open_dm(box, user)
    again = _open_dm(box, user)
    home = box.slack.open_app_home(user, "home")

    greetings = [m["text"] for m in box.slack.messages(dm) if m.get("bot_id")]
    assert len(greetings) == 1 and f"<@{user}>" in greetings[0]
    assert first == again == DEFAULTS
    assert box.slack.assistant_thread(dm).prompts_title == PROMPTS_TITLE
    # The agent messaging experience sets prompts on the Messages tab: no thread_ts.
    assert all("thread_ts" not in params for params in _calls(box, SET_PROMPTS))
    assert home.statuses == [200] and len(_calls(box, SET_PROMPTS)) == 2


def test_admins_set_the_prompts_and_the_next_dm_offers_them(box: Sandbox) -> None:
    user = box.slack.add_user("minji")

    told = _finetune(
        box, ADMIN, 'prompts "Refunds | What is our refund policy?" "Is 2+2=4 in our books?"'
    )
    offered = _open_dm(box, user)
    shown = _finetune(box, ADMIN, "prompts")
    reset = _finetune(box, ADMIN, "prompts reset")
    after_reset = _open_dm(box, user)

    assert offered == [
        {"title": "Refunds", "message": "What is our refund policy?"},
        {"title": "Is 2+2=4 in our books?", "message": "Is 2+2=4 in our books?"},
    ]
    assert "next time they open my DM" in told and "*Refunds*" in told
    assert "set by an admin" in shown and "Is 2+2=4 in our books?" in shown
    assert "Back to the default prompts" in reset
    assert after_reset == DEFAULTS


def test_a_non_admin_cannot_set_the_prompts(box: Sandbox) -> None:
    user = box.slack.add_user("minji")

    told = _finetune(box, user, 'prompts "Tell me a secret"')

    assert "Only tunebot admins" in told
    assert _open_dm(box, user) == DEFAULTS
    with box.deps.session_factory() as session:
        refused = session.query(AuditEntry).filter(AuditEntry.user_id == user).one()
    assert refused.outcome == "refused: not an admin"


def test_prompts_slack_would_not_show_are_refused_with_the_reason(box: Sandbox) -> None:
    five = " ".join(f'"question {n}"' for n in range(5))

    too_many = _finetune(box, ADMIN, f"prompts {five}")
    empty = _finetune(box, ADMIN, 'prompts "Refunds | "')
    long = _finetune(box, ADMIN, f'prompts "{"x" * 1001}"')

    assert "takes at most 4 values" in too_many
    assert "Prompt 1 needs some text" in empty
    assert "Prompt 1 is over 1,000 characters" in long
    assert _open_dm(box, box.slack.add_user("minji")) == DEFAULTS


def test_help_lists_the_prompts_commands(box: Sandbox) -> None:
    help_text = _finetune(box, ADMIN, "help")

    assert "/finetune prompts [" in help_text and "/finetune prompts reset" in help_text


def test_a_dm_thread_shows_a_status_while_the_model_works_until_the_reply_clears_it(
    box: Sandbox,
) -> None:
    _, turn, thread = _ask_in_a_new_dm(box)

    assert turn.outcome == "answered"
    assert thread.statuses == [
        {"status": STATUS, "loading_messages": list(LOADING_MESSAGES), "ended": "reply"}
    ]


def test_a_channel_mention_shows_the_status_in_its_thread_and_gets_no_title(
    box: Sandbox,
) -> None:
    user = box.slack.add_user("minji")
    channel = box.slack.add_channel("general")
    asked: list[str] = []
    _model_waits_for(box, lambda: asked and box.slack.assistant_thread(channel, asked[0]).status)

    asked.append(
        box.slack.post_as_user(user, channel, f"<@{box.slack.bot_user_id}> refund policy?").ts
    )
    box.wait_for_turn(channel, asked[0])
    _settle(box)

    thread = box.slack.assistant_thread(channel, asked[0])
    replies = box.replies_after(channel, asked[0], asked[0])
    assert [r["text"] for r in replies] == ["Refunds take five working days."]
    assert [s["ended"] for s in thread.statuses] == ["reply"]
    assert thread.title is None and _calls(box, SET_TITLE) == []


def test_a_slow_status_never_delays_the_reply_and_is_cleared_after_it(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    dm = box.slack.open_dm(user)
    held = box.slack.hold(SET_STATUS)
    _model_waits_for(box, lambda: _calls(box, SET_STATUS))

    asked = box.slack.post_as_user(user, dm, "What is our refund policy?")
    turn = box.wait_for_turn(dm, asked.ts)  # answered while Slack still holds the status call
    replies = box.replies_after(dm, asked.ts, asked.ts)
    held.set()
    _settle(box)

    assert turn.outcome == "answered" and len(replies) == 1
    # The status reached Slack after the reply began, so tunebot cleared it itself.
    assert [s["ended"] for s in box.slack.assistant_thread(dm, asked.ts).statuses] == [
        "empty status"
    ]
    assert [c["status"] for c in _calls(box, SET_STATUS)] == [STATUS, ""]


def test_a_new_dm_thread_is_titled_from_its_first_question(box: Sandbox) -> None:
    user = box.slack.add_user("minji")
    dm = box.slack.open_dm(user)
    question = "How do I file expenses for a conference abroad, and who approves them first?"

    asked = box.slack.post_as_user(user, dm, question)
    box.wait_for_turn(dm, asked.ts)
    follow_up = box.slack.post_as_user(user, dm, "and hotels?", thread_ts=asked.ts)
    box.wait_for_turn(dm, follow_up.ts)
    _settle(box)

    assert box.slack.assistant_thread(dm, asked.ts).title == (
        "How do I file expenses for a conference abroad, and who…"
    )
    assert len(_calls(box, SET_TITLE)) == 1


def test_without_the_agent_methods_every_answer_streams_and_each_lack_is_logged_once(
    box: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    box.slack.remove_methods(SET_STATUS, SET_TITLE, SET_PROMPTS)
    user = box.slack.add_user("minji")
    dm = box.slack.open_dm(user)
    questions = ["What is our refund policy?", "Who approves travel?"]
    _model_waits_for(box, lambda: _calls(box, SET_STATUS))  # slow enough to want a status

    box.slack.open_app_home(user, "messages")
    box.slack.wait_for(lambda: _calls(box, SET_PROMPTS))
    answered = []
    for question in questions:
        asked = box.slack.post_as_user(user, dm, question)
        box.wait_for_turn(dm, asked.ts)
        answered += [r["text"] for r in box.replies_after(dm, asked.ts, asked.ts)]
        _settle(box)

    lacks = [
        r.getMessage() for r in caplog.records if "is not available to this app" in r.getMessage()
    ]
    greetings = [m for m in box.slack.messages(dm) if m.get("bot_id")]
    assert answered == ["Refunds take five working days."] * 2
    assert len(greetings) == 1
    assert sorted(m.split(" ")[0] for m in lacks) == sorted([SET_PROMPTS, SET_STATUS, SET_TITLE])
    assert all("unknown_method" in m for m in lacks)
    # The second answer did not even ask: Slack had said the methods are not there.
    assert len(_calls(box, SET_STATUS)) == len(_calls(box, SET_TITLE)) == 1
    assert not any(text in caplog.text for text in [*questions, *answered, "refund"])


def test_a_token_without_assistant_write_keeps_the_status_and_loses_prompts_and_titles(
    box: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    manifest = yaml.safe_load(MANIFEST.read_text())
    box.slack.scopes = set(manifest["oauth_config"]["scopes"]["bot"]) - {"assistant:write"}

    offered, turn, thread = _ask_in_a_new_dm(box)

    assert turn.outcome == "answered" and offered == []
    assert [s["ended"] for s in thread.statuses] == ["reply"] and thread.title is None
    assert "missing_scope" in caplog.text and SET_TITLE in caplog.text


def test_the_manifest_grants_what_every_agent_surface_needs(box: Sandbox) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    box.slack.scopes = manifest["oauth_config"]["scopes"]["bot"]

    offered, _, thread = _ask_in_a_new_dm(box)

    assert offered == DEFAULTS and thread.title == "What is our refund policy?"
    assert [s["ended"] for s in thread.statuses] == ["reply"]
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]


def test_slack_accepts_the_manifest_and_its_prompts_are_the_bots_defaults(box: Sandbox) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    config = WebClient(token=box.slack.config_token, base_url=box.slack.api_url)

    assert config.apps_manifest_validate(manifest=manifest)["ok"] is True
    assert manifest["features"]["agent_view"]["suggested_prompts"] == DEFAULTS
    assert "assistant_view" not in manifest["features"]
