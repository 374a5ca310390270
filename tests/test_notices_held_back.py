"""A held-back model on a paid deployment: the notice says it keeps billing and how to stop it."""

from __future__ import annotations

from admin.notices import held_back_notice
from storage.models import Job


def _job() -> Job:
    return Job(
        id=4,
        provider="together",
        provider_job_id="ft-abc",
        base_model="meta-llama/Llama-3.1-8B-Instruct",
        callable_model="proj/tunebot-ft-abc",
        started_by="UADMIN001",
    )


def test_a_held_back_model_on_a_deployment_says_how_to_stop_its_bill() -> None:
    report = {"error": "the candidate timed out", "failures": 3}

    payload = held_back_notice(_job(), report, deployed=True)

    assert "keeps running, and billing" in payload["text"]
    assert "`/finetune undeploy proj/tunebot-ft-abc provider=together`" in payload["text"]


def test_a_held_back_model_without_a_deployment_says_nothing_of_billing() -> None:
    report = {"error": "the candidate timed out", "failures": 3}

    payload = held_back_notice(_job(), report)

    assert "billing" not in payload["text"] and "promote job-4" in payload["text"]
