"""The provider contract: every installed provider, built from its settings as `tunebot run`
builds it, against its emulator through its real SDK over HTTP, does what it declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from admin.options import UsageError, expected
from admin.providers.base import (
    Deployments,
    JobSnapshot,
    NotReady,
    ProviderError,
    TrainRequest,
    Unsupported,
)
from admin.providers.plugin import Capability, Phase, Provider
from tests.provider_drivers import Driver

# What the lifecycle keeps of a job in tunebot's database and hands back once training ended.
STORED = ("id", "status", "model", "fine_tuned_model", "finished_at", "trained_tokens")


def _request(driver: Driver, provider: Provider, file_id: str, **words: str) -> TrainRequest:
    options = provider.read_options(words)
    return TrainRequest(training_file=file_id, model=driver.base_model, options=options)


def _job(driver: Driver, provider: Provider, tmp_path: Path, **words: str) -> JobSnapshot:
    file_id = provider.upload_training_file(driver.dataset(tmp_path), filename="team.jsonl")
    return provider.create_job(_request(driver, provider, file_id, **words))


def _as_stored(job: JobSnapshot, request: TrainRequest) -> JobSnapshot:
    """The snapshot the lifecycle rebuilds from its row: what it stored, nothing more."""
    kept = {name: getattr(job, name) for name in STORED}
    return JobSnapshot(
        **kept,
        result_files=job.result_files,
        hyperparameters=request.options.provider_fields(),
        phase=job.phase,
    )


def test_a_dataset_goes_up_and_a_job_is_created_with_the_options_given(
    provider_case: Driver, tmp_path: Path
) -> None:
    provider = provider_case.provider()
    seen: list[tuple[int, int]] = []
    dataset = provider_case.dataset(tmp_path)
    file_id = provider.upload_training_file(
        dataset, filename="team.jsonl", progress=lambda *p: seen.append(p)
    )
    assert provider_case.received(file_id) == dataset.read_bytes()
    assert seen and seen[-1] == (dataset.stat().st_size, dataset.stat().st_size)

    job = provider.create_job(
        _request(provider_case, provider, file_id, epochs="2", suffix="support")
    )

    sent = provider_case.sent(job.id)
    assert sent["epochs"] == 2 and sent["suffix"] == "support"
    assert job.phase == Phase.ACTIVE and job.status in provider.statuses
    again = provider.get_job(job.id)
    assert (again.id, again.phase) == (job.id, Phase.ACTIVE)


def test_statuses_become_phases_through_its_status_table(
    provider_case: Driver, tmp_path: Path
) -> None:
    provider = provider_case.provider()
    assert {phase for _, phase in provider_case.statuses} == set(Phase)
    for status, phase in provider_case.statuses:
        job = _job(provider_case, provider, tmp_path)
        provider_case.advance(job.id, status)
        found = provider.get_job(job.id)
        assert (found.status, found.phase) == (status, phase)
        assert provider.statuses[status] == phase


def test_events_are_listed_once_where_it_declares_them(
    provider_case: Driver, tmp_path: Path
) -> None:
    provider = provider_case.provider()
    job = _job(provider_case, provider, tmp_path)
    if Capability.EVENTS not in provider.capabilities:
        with pytest.raises(Unsupported):
            provider.list_events(job.id)
        return
    first = provider.list_events(job.id)
    assert first and all(e.message for e in first)
    assert provider.list_events(job.id, after=first[-1].id) == []
    provider_case.advance(job.id, provider_case.statuses[1][0])
    newer = provider.list_events(job.id, after=first[-1].id)
    assert newer and not {e.id for e in newer} & {e.id for e in first}


def test_cancel_ends_the_job_cancelled(provider_case: Driver, tmp_path: Path) -> None:
    provider = provider_case.provider()
    job = _job(provider_case, provider, tmp_path)
    provider.cancel_job(job.id)
    provider_case.finish_cancel(job.id)
    assert provider.get_job(job.id).phase == Phase.CANCELLED


def test_what_it_cannot_do_raises_unsupported_and_what_it_declares_it_does(
    provider_case: Driver, tmp_path: Path
) -> None:
    provider = provider_case.provider()
    job = _job(provider_case, provider, tmp_path)
    calls = {
        Capability.PAUSE: lambda: provider.pause_job(job.id),
        Capability.RESUME: lambda: provider.resume_job(job.id),
        Capability.EVENTS: lambda: provider.list_events(job.id),
        Capability.CHECKPOINTS: lambda: provider.list_checkpoints(job.id),
    }
    for capability, call in calls.items():
        if capability in provider.capabilities:
            try:
                call()
            except Unsupported:  # pragma: no cover - the failure message says which
                pytest.fail(f"{provider.name} declares {capability} but refuses it")
            except ProviderError:
                pass  # the service refused this job's state (pausing a job still validating)
        else:
            with pytest.raises(Unsupported, match=re.escape(provider.label)):
                call()
    assert isinstance(provider, Deployments) == (Capability.DEPLOYMENTS in provider.capabilities)
    takes_dpo = "method" in provider.Options.model_fields
    assert takes_dpo == (Capability.DPO in provider.capabilities)


def test_a_dpo_job_carries_its_beta_where_it_trains_dpo(
    provider_case: Driver, tmp_path: Path
) -> None:
    provider = provider_case.provider()
    if Capability.DPO not in provider.capabilities:
        with pytest.raises(UsageError, match="does not take `method=`"):
            provider.read_options({"method": "dpo"})
        return
    with pytest.raises(UsageError, match="`beta=` applies to DPO only"):
        provider.read_options({"beta": "0.2"})
    job = _job(provider_case, provider, tmp_path, method="dpo", beta="0.2")
    assert provider_case.sent(job.id)["beta"] == 0.2


def test_a_trained_job_becomes_a_model_that_answers(provider_case: Driver, tmp_path: Path) -> None:
    provider = provider_case.provider()
    file_id = provider.upload_training_file(provider_case.dataset(tmp_path), filename="t.jsonl")
    request = _request(provider_case, provider, file_id, epochs="2")
    job = provider.create_job(request)
    with pytest.raises(NotReady):
        provider.make_callable(job)

    provider_case.succeed(job.id)
    done = provider.get_job(job.id)
    assert done.phase == Phase.SUCCEEDED
    stored = _as_stored(done, request)
    for _ in range(5):  # one call per scheduler tick, until its deployment is ready
        try:
            model = provider.make_callable(stored)
            break
        except NotReady:
            provider_case.deploying(job.id)
    else:
        pytest.fail(f"{provider.name} never made job {job.id} callable")

    assert provider.make_callable(stored) == model  # idempotent
    assert provider.is_answering(model)
    assert provider.model_info(model).exists
    assert not provider.model_info("no-such-model-anywhere").exists
    provider.metrics(stored)  # from what tunebot stored, without a fresh read of the job
    if Capability.CHECKPOINTS in provider.capabilities:
        checkpoints = provider.list_checkpoints(job.id)
        assert [c.step for c in checkpoints] == sorted(c.step for c in checkpoints)
    if isinstance(provider, Deployments):
        assert provider.undeploy(model) and not provider.undeploy(model)


def test_a_failed_job_says_why_in_the_providers_words(
    provider_case: Driver, tmp_path: Path
) -> None:
    provider = provider_case.provider()
    job = _job(provider_case, provider, tmp_path)
    provider_case.fail(job.id, "Example 3 has no assistant message")
    failed = provider.get_job(job.id)
    assert failed.phase == Phase.FAILED
    assert failed.error_message == "Example 3 has no assistant message"
    with pytest.raises(ProviderError):
        provider.make_callable(failed)


def test_its_options_explain_themselves_and_refuse_by_name(provider_case: Driver) -> None:
    provider = provider_case.provider()
    help_lines = provider.Options.help_lines()
    assert [line.split("=")[0] for line in help_lines] == [
        f"`{key}" for key in provider.Options.model_fields
    ]
    assert f"[provider={provider.name}]" in provider.usage()
    with pytest.raises(UsageError, match=re.escape(f"{provider.label} does not take `bogus=`")):
        provider.read_options({"bogus": "1"})
    for key, field in provider.Options.model_fields.items():
        if "at least" in expected(field) or "above" in expected(field):
            with pytest.raises(UsageError) as refused:
                provider.read_options({key: "-1"})
            assert str(refused.value) == f"`{key}=` expects {expected(field)}, got `-1`."


def test_its_settings_name_its_variables_and_turn_it_on(provider_case: Driver) -> None:
    settings = type(provider_case.provider()).Settings
    needed = settings.turned_on_by()
    assert needed and set(needed) <= set(settings.variables().values())
    assert settings.is_configured(provider_case.env)
    assert not settings.is_configured(
        {k: v for k, v in provider_case.env.items() if k != needed[0]}
    )
    for variable in settings.url_variables():
        assert settings.problems({**provider_case.env, variable: "not a url"}) == [
            f"{variable} must be an http(s) URL such as https://example.com/, got 'not a url'"
        ]
    secret_values = {
        provider_case.env[v] for v in settings.secret_variables() if v in provider_case.env
    }
    assert secret_values <= set(settings.from_env(provider_case.env).secrets())
