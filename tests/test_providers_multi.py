"""Several providers at once: models answered where they are served, jobs, datasets, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from admin.poller import tick
from emulators.openai import OpenAIEmulator
from emulators.sandbox import Sandbox
from storage import job_repo, repo, upload_repo
from storage.repo import ModelRef
from tests.sandbox_helpers import ADMIN, NOTIFY, command, only_job, upload

USER = "U0MINJI01"
TUNED_ON_NEBIUS = "meta-llama/Llama-3.1-8B-Instruct-LoRa:tunebot-abc"


@pytest.fixture
def nebius() -> Iterator[OpenAIEmulator]:
    """A second OpenAI-compatible server standing in for Nebius Token Factory."""
    with OpenAIEmulator() as emu:
        yield emu


@pytest.fixture
def two(database_url: str, nebius: OpenAIEmulator) -> Iterator[Sandbox]:
    with Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=NOTIFY,
        provider_env={"NEBIUS_API_KEY": nebius.api_key, "NEBIUS_BASE_URL": nebius.base_url},
    ) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        b.slack.add_user("minji", user_id=USER)
        b.slack.add_channel("ml", channel_id=NOTIFY)
        yield b


def ask(box: Sandbox, text: str = "when do we deploy?") -> str:
    asked = box.slack.post_as_user(USER, NOTIFY, f"<@{box.slack.bot_user_id}> {text}")
    turn = box.wait_for_turn(NOTIFY, asked.ts)
    assert turn.outcome == "answered", turn.outcome
    return f"{turn.provider}:{turn.model}"


def active(box: Sandbox) -> ModelRef:
    with box.deps.session_factory() as session:
        return repo.get_active_model(session, default=box.deps.base_model)


def test_providers_lists_each_configured_one_with_its_endpoint_and_what_it_supports(
    two: Sandbox, nebius: OpenAIEmulator
) -> None:
    text = command(two, "providers")["text"]

    assert "*OpenAI* (`openai`) · default for new jobs" in text
    assert "closing to new jobs on 2027-01-06" in text
    assert "*Nebius Token Factory* (`nebius`)" in text
    assert nebius.base_url.split("//")[1].split("/")[0] in text  # its chat endpoint's host
    openai_part, nebius_part = text.split("(`nebius`)")
    assert "pause" in openai_part and "pause" not in nebius_part.split("\n")[1]
    assert "Azure OpenAI: AZURE_OPENAI_API_KEY" in text


def test_a_model_used_at_another_provider_is_answered_there_and_nowhere_else(
    two: Sandbox, nebius: OpenAIEmulator
) -> None:
    nebius.add_model(TUNED_ON_NEBIUS)
    answered = command(two, f"use {TUNED_ON_NEBIUS} provider=nebius")
    assert "switched tunebot to" in answered["text"] and "Nebius Token Factory" in answered["text"]
    before = len(two.openai.chat_requests)

    assert ask(two) == f"nebius:{TUNED_ON_NEBIUS}"

    assert nebius.chat_requests[-1]["model"] == TUNED_ON_NEBIUS
    assert len(two.openai.chat_requests) == before  # nothing reached OpenAI
    assert "max_tokens" in nebius.chat_requests[-1]  # Nebius's own token limit field


def test_a_model_unknown_at_the_named_provider_is_refused_before_switching(two: Sandbox) -> None:
    answered = command(two, "use acme/not-there provider=nebius")

    assert "does not know a model `acme/not-there`" in answered["text"]
    assert active(two) == two.deps.base_model


def test_use_without_provider_finds_the_model_where_tunebot_knows_it(
    two: Sandbox, nebius: OpenAIEmulator
) -> None:
    nebius.add_model(TUNED_ON_NEBIUS)
    command(two, f"use {TUNED_ON_NEBIUS} provider=nebius")
    command(two, "rollback")

    command(two, f"use {TUNED_ON_NEBIUS}")

    assert active(two) == ModelRef("nebius", TUNED_ON_NEBIUS)


def test_rollback_returns_to_the_previous_provider_and_model(
    two: Sandbox, nebius: OpenAIEmulator
) -> None:
    nebius.add_model(TUNED_ON_NEBIUS)
    command(two, f"use {TUNED_ON_NEBIUS} provider=nebius")

    rolled = command(two, "rollback")

    assert active(two) == ModelRef("openai", two.settings.base_model)
    assert "at OpenAI" in rolled["text"]
    assert ask(two) == f"openai:{two.settings.base_model}"


def test_the_fallback_switches_the_model_and_its_provider(
    two: Sandbox, nebius: OpenAIEmulator
) -> None:
    nebius.add_model(TUNED_ON_NEBIUS)
    command(two, f"use {TUNED_ON_NEBIUS} provider=nebius")
    nebius.remove_model(TUNED_ON_NEBIUS)

    assert ask(two) == f"openai:{two.settings.base_model}"

    assert active(two) == ModelRef("openai", two.settings.base_model)
    tick(two.deps.poller())
    notices = [m.get("text") or "" for m in two.slack.messages(NOTIFY) if m.get("bot_id")]
    assert any("no longer answers at Nebius Token Factory" in t for t in notices)


def test_a_job_trained_at_the_second_provider_goes_live_answered_there(
    two: Sandbox, nebius: OpenAIEmulator
) -> None:
    upload(two)  # uploaded to the default provider, OpenAI
    started = command(two, "train ds-1 provider=nebius model=gpt-4o-mini-2024-07-18 epochs=2")
    assert "at Nebius Token Factory" in started["text"], started["text"]
    job = only_job(two)
    assert job.provider == "nebius" and job.provider_job_id in nebius.jobs
    assert two.openai.jobs == {}
    # The dataset travelled: uploaded to Nebius once, from tunebot's own copy.
    with two.deps.session_factory() as session:
        at_nebius = upload_repo.find_upload(session, dataset_id=1, provider="nebius")
        assert at_nebius is not None and at_nebius.status == "uploaded"
    assert nebius.jobs[job.provider_job_id]["training_file"] == at_nebius.file_id

    model = nebius.succeed_job(job.provider_job_id)
    for _ in range(5):
        if tick(two.deps.poller()).went_live:
            break

    assert only_job(two).stage == "live"
    assert active(two).provider == "nebius"
    assert model and active(two).model.startswith("tunebot-")  # Nebius's deployment name
    assert ask(two) == f"nebius:{active(two).model}"
    assert nebius.chat_requests[-1]["model"] == active(two).model


def test_an_option_the_provider_does_not_take_is_refused_with_the_ones_it_takes(
    two: Sandbox,
) -> None:
    upload(two)

    refused = command(two, "train ds-1 provider=nebius method=dpo")

    assert "Nebius Token Factory does not take `method=`" in refused["text"]
    assert "`lora_r=`" in refused["text"] and "`epochs=`" in refused["text"]
    assert only_job_count(two) == 0


def test_help_lists_each_providers_options_from_its_declarations(two: Sandbox) -> None:
    text = command(two, "help")["text"]

    nebius_part = text.split("at Nebius Token Factory")[1]
    assert "`lr=` absolute learning rate" in nebius_part
    assert "`lr=` learning rate multiplier" in text.split("at Nebius Token Factory")[0]


def test_after_openai_closes_it_refuses_new_jobs_and_names_where_to_train(
    two: Sandbox,
) -> None:
    upload(two)
    two.deps.providers.today = lambda: date(2027, 1, 7)

    refused = command(two, "train ds-1")

    assert "OpenAI takes no new fine-tuning jobs" in refused["text"]
    assert "closed fine-tuning to new jobs on 2027-01-06" in refused["text"]
    assert "/finetune train ds-1 provider=nebius model=" in refused["text"]
    assert two.openai.jobs == {}


def test_models_suggests_retraining_an_openai_fine_tune_elsewhere(two: Sandbox) -> None:
    upload(two)
    command(two, "train ds-1")
    two.openai.succeed_job(only_job(two).provider_job_id)
    tick(two.deps.poller())

    listing = command(two, "models")["text"]

    assert "stops answering on *2027-01-14*" in listing
    assert (
        "`/finetune train ds-1 provider=nebius model=meta-llama/Llama-3.1-8B-Instruct`" in listing
    )


def only_job_count(box: Sandbox) -> int:
    with box.deps.session_factory() as session:
        return len(job_repo.list_jobs(session))
