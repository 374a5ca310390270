"""A model and a prompt per channel: `/finetune use … channel=`, `/finetune prompt`, `/finetune
channels`, jobs trained `for=` one channel, and rollback there, through Slack."""

from __future__ import annotations

from typing import Any

from admin.poller import tick
from emulators.sandbox import Sandbox
from storage import repo
from storage.models import Job
from tests.eval_helpers import add_dataset, announcements, pairs
from tests.sandbox_helpers import NOTIFY, command

SUPPORT = "C0SUPPORT1"
OTHER = "C0RANDOM01"
NANO = "gpt-4.1-nano-2025-04-14"


def channels(box: Sandbox) -> None:
    box.slack.add_channel("support", channel_id=SUPPORT)
    box.slack.add_channel("random", channel_id=OTHER)


def ask(box: Sandbox, channel: str, text: str = "배포는 언제죠?") -> tuple[str, dict[str, Any]]:
    """A member's mention in `channel`: the model that answered and what it was sent."""
    user = box.slack.add_user(f"member-{channel.lower()}")
    asked = box.slack.post_as_user(user, channel, f"<@{box.slack.bot_user_id}> {text}")
    turn = box.wait_for_turn(channel, asked.ts)
    sent = [
        r
        for r in box.openai.chat_requests
        if any(text in str(m.get("content")) for m in r["messages"] if m["role"] == "user")
    ]
    return turn.model, sent[-1]


def system_prompt(request: dict[str, Any]) -> str:
    return str(request["messages"][0]["content"])


def test_a_channel_answers_with_its_own_model_and_the_others_with_the_workspaces(
    box: Sandbox,
) -> None:
    channels(box)

    answer = command(box, f"use {NANO} provider=openai channel=<#{SUPPORT}|support>")

    assert f"switched tunebot in <#{SUPPORT}> to `{NANO}`" in answer["text"]
    assert ask(box, SUPPORT, "지원 채널 질문")[0] == NANO
    assert ask(box, OTHER, "다른 채널 질문")[0] == box.settings.base_model
    listing = command(box, "channels")["text"]
    assert f"<#{SUPPORT}>: `{NANO}` at OpenAI" in listing
    assert f"`{box.settings.base_model}`" in listing
    models = command(box, "models")["text"]
    assert f"`{NANO}` at OpenAI · answers in <#{SUPPORT}>" in models
    assert f"for <#{SUPPORT}>" in models


def test_a_channel_prompt_is_sent_there_and_reset_returns_to_the_workspaces(
    box: Sandbox,
) -> None:
    channels(box)

    answer = command(box, f'prompt channel=<#{SUPPORT}> "당신은 고객 지원 담당자입니다."')

    assert f"gave <#{SUPPORT}> its own prompt" in answer["text"]
    assert system_prompt(ask(box, SUPPORT, "첫 질문")[1]) == "당신은 고객 지원 담당자입니다."
    assert system_prompt(ask(box, OTHER, "둘째 질문")[1]) == box.settings.system_prompt
    shown = command(box, f"prompt channel={SUPPORT}")["text"]
    assert "당신은 고객 지원 담당자입니다." in shown
    assert "its own prompt" in command(box, "channels")["text"]

    command(box, f"prompt channel=<#{SUPPORT}> reset")
    assert system_prompt(ask(box, SUPPORT, "셋째 질문")[1]) == box.settings.system_prompt


def test_prompt_names_what_it_needs(box: Sandbox) -> None:
    assert "`channel=` is needed: a channel picked with #" in command(box, 'prompt "hi"')["text"]
    refused = command(box, "prompt channel=#support hi")["text"]
    assert "`channel=` expects a channel picked with #" in refused


def test_a_job_for_one_channel_is_compared_with_and_swapped_into_that_channel_only(
    box: Sandbox,
) -> None:
    channels(box)
    command(box, f"use {NANO} provider=openai channel=<#{SUPPORT}|support>")
    training, held_out = add_dataset(box)
    references = pairs(box, held_out)

    answer = command(box, f"train {training.label} for=<#{SUPPORT}|support>")

    assert "started *job-1*" in answer["text"]
    assert f"compares the new model with <#{SUPPORT}>'s model" in answer["text"]
    with box.deps.session_factory() as session:
        job = session.query(Job).one()
    assert job.for_channel == SUPPORT
    model = box.openai.succeed_job(job.provider_job_id)
    box.openai.script(model, references)
    box.openai.script(NANO, lambda m, msgs: "잘 모르겠습니다.")

    tick(box.deps.poller())

    # Compared with the support channel's model, not the workspace's.
    compared = {r["model"] for r in box.openai.chat_requests if r.get("temperature") == 0}
    assert compared == {model, NANO}
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=box.deps.base_model) == box.deps.base_model
        assert (
            repo.get_active_model(session, default=box.deps.base_model, channel=SUPPORT).model
            == model
        )
    [live] = announcements(box, NOTIFY)
    assert f"tunebot answers with it in <#{SUPPORT}> from now on" in live["text"]
    assert ask(box, SUPPORT, "새 모델 질문")[0] == model
    assert ask(box, OTHER, "다른 채널")[0] == box.settings.base_model

    back = command(box, f"rollback channel=<#{SUPPORT}>")
    assert f"rolled tunebot back in <#{SUPPORT}> to `{NANO}`" in back["text"]
    assert ask(box, SUPPORT, "롤백 후 질문")[0] == NANO
    with box.deps.session_factory() as session:
        assert repo.get_active_model(session, default=box.deps.base_model) == box.deps.base_model


def test_a_channel_rolled_back_past_its_own_history_follows_the_workspace(box: Sandbox) -> None:
    channels(box)
    command(box, f"use {NANO} provider=openai channel=<#{SUPPORT}>")

    back = command(box, f"rollback channel=<#{SUPPORT}>")

    assert f"rolled tunebot back in <#{SUPPORT}> to `{box.settings.base_model}`" in back["text"]
    assert ask(box, SUPPORT, "워크스페이스 모델")[0] == box.settings.base_model
    assert "No channel has its own model or prompt" in command(box, "channels")["text"]
    refused = command(box, f"rollback channel=<#{SUPPORT}>")["text"]
    assert f"<#{SUPPORT}> has no model of its own" in refused
    # The workspace's own rollback is untouched by the channel's history.
    assert "no earlier model" in command(box, "rollback")["text"]


def test_a_channels_model_that_is_gone_gives_way_to_the_workspaces(box: Sandbox) -> None:
    channels(box)
    command(box, f"use {NANO} provider=openai channel=<#{SUPPORT}>")
    box.openai.remove_model(NANO)

    model, _ = ask(box, SUPPORT, "사라진 모델")

    assert model == box.settings.base_model
    with box.deps.session_factory() as session:
        assert repo.channel_models(session) == []
        assert repo.get_active_model(session, default=box.deps.base_model) == box.deps.base_model
    tick(box.deps.poller())  # the notice goes out
    notices = [m["text"] for m in box.slack.messages(NOTIFY) if m.get("bot_id")]
    assert any(
        f"now answers in <#{SUPPORT}> with `{box.settings.base_model}`" in t for t in notices
    )


def test_a_prompt_is_stored_as_typed_not_as_slack_escapes_it(box: Sandbox) -> None:
    channels(box)
    # What Slack sends for: "See <docs> & https://wiki.example.com, ask in #random."
    escaped = "See &lt;docs&gt; &amp; <https://wiki.example.com|wiki.example.com>, ask in "
    command(box, f'prompt channel=<#{SUPPORT}> "{escaped}<#{OTHER}|random>."')

    sent = system_prompt(ask(box, SUPPORT, "프롬프트 확인")[1])

    assert sent == "See <docs> & https://wiki.example.com, ask in #random."
