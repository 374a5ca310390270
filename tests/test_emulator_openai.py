"""The OpenAI emulator driven only through the openai SDK, as the bot's gateways will drive it."""

from __future__ import annotations

import base64
import csv
import io
import json
import urllib.request
from typing import Any

import openai
import pytest
from openai import OpenAI

from admin.datasets.api import analyze
from emulators.openai import OpenAIEmulator

TRAINING = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)


def _ask(client: OpenAI, model: str = "gpt-4o-mini", **extra: Any) -> Any:
    messages: Any = [{"role": "user", "content": "when is payday?"}]
    return client.chat.completions.create(model=model, messages=messages, **extra)


def _training_file(client: OpenAI) -> str:
    return client.files.create(file=("train.jsonl", TRAINING), purpose="fine-tune").id


def test_a_completion_names_the_model_that_answered(
    client: OpenAI, emulator: OpenAIEmulator
) -> None:
    completion = _ask(client)
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini-2024-07-18"  # an alias answers as its snapshot
    answer = completion.choices[0].message.content or ""
    assert answer.startswith("[gpt-4o-mini] ") and "payday" in answer
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert emulator.chat_requests[-1]["messages"][0]["content"] == "when is payday?"


def test_a_stream_sends_role_then_text_then_finish_then_usage(
    client: OpenAI, emulator: OpenAIEmulator
) -> None:
    emulator.reply = lambda model, messages: f"[{model}] one two three"
    chunks = list(_ask(client, "gpt-4.1-mini", stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[gpt-4.1-mini] one two three"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert len({c.id for c in chunks}) == 1


def test_max_tokens_cuts_the_answer_short(client: OpenAI) -> None:
    completion = _ask(client, max_completion_tokens=3)
    assert completion.choices[0].finish_reason == "length"
    assert len(completion.choices[0].message.content or "") <= 12


def test_an_unknown_model_is_a_404_model_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        _ask(client, "ft:gpt-4o-mini:gone::x")
    assert missing.value.code == "model_not_found"
    assert "ft:gpt-4o-mini:gone::x" in missing.value.message


def test_a_wrong_key_is_refused_without_echoing_it(emulator: OpenAIEmulator) -> None:
    wrong = OpenAI(base_url=emulator.base_url, api_key="sk-secret-value-1234", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.code == "invalid_api_key"
    assert "sk-secret-value-1234" not in refused.value.message
    assert refused.value.response.headers["x-request-id"].startswith("req_")


def test_a_rate_limit_carries_retry_after_and_the_sdk_retries_it(
    client: OpenAI, emulator: OpenAIEmulator
) -> None:
    emulator.fail_next("chat", status=429, retry_after=0)
    with pytest.raises(openai.RateLimitError) as limited:
        _ask(client)
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.response.headers["retry-after"] == "0"

    emulator.fail_next("chat", status=503, times=2, retry_after=0.01)
    retrying = OpenAI(base_url=emulator.base_url, api_key=emulator.api_key, max_retries=2)
    assert (
        retrying.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
        .choices[0]
        .message.content
    )


def test_a_slow_answer_becomes_an_sdk_timeout(client: OpenAI, emulator: OpenAIEmulator) -> None:
    emulator.fail_next("chat", status=200, delay=0.5)
    with pytest.raises(openai.APITimeoutError):
        _ask(client.with_options(timeout=0.1))


def test_files_are_stored_listed_read_and_deleted(client: OpenAI, emulator: OpenAIEmulator) -> None:
    created = client.files.create(file=("train.jsonl", TRAINING), purpose="fine-tune")
    assert created.object == "file" and created.bytes == len(TRAINING)
    assert created.status == "processed" and created.purpose == "fine-tune"
    assert [f.id for f in client.files.list(purpose="fine-tune")] == [created.id]
    assert client.files.content(created.id).content == TRAINING
    assert emulator.files[created.id][1] == TRAINING
    assert client.files.delete(created.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


def test_fine_tune_files_must_be_small_jsonl(client: OpenAI, emulator: OpenAIEmulator) -> None:
    with pytest.raises(openai.BadRequestError, match=r"Must be \.jsonl"):
        client.files.create(file=("train.csv", b"a,b\n"), purpose="fine-tune")
    emulator.state.max_file_bytes = 10
    with pytest.raises(openai.BadRequestError) as too_big:
        client.files.create(file=("train.jsonl", TRAINING), purpose="fine-tune")
    assert too_big.value.code == "file_too_large"


def test_a_chunked_upload_becomes_one_file(client: OpenAI) -> None:
    data = TRAINING * 40
    upload = client.uploads.upload_file_chunked(
        file=data,
        filename="big.jsonl",
        bytes=len(data),
        mime_type="text/jsonl",
        purpose="fine-tune",
        part_size=1000,
    )
    assert upload.status == "completed" and upload.file is not None
    assert client.files.content(upload.file.id).content == data


def test_an_upload_with_missing_bytes_cannot_complete(client: OpenAI) -> None:
    upload = client.uploads.create(
        filename="big.jsonl", bytes=100, mime_type="text/jsonl", purpose="fine-tune"
    )
    part = client.uploads.parts.create(upload_id=upload.id, data=b"x" * 60)
    with pytest.raises(openai.BadRequestError, match="does not match"):
        client.uploads.complete(upload_id=upload.id, part_ids=[part.id])
    assert client.uploads.cancel(upload_id=upload.id).status == "cancelled"


def test_a_job_is_created_validating_with_auto_hyperparameters(client: OpenAI) -> None:
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=_training_file(client), suffix="team"
    )
    assert job.id.startswith("ftjob-") and job.object == "fine_tuning.job"
    assert job.status == "validating_files" and job.model == "gpt-4o-mini-2024-07-18"
    assert job.hyperparameters.n_epochs == "auto"
    assert job.method is not None and job.method.type == "supervised"
    assert job.fine_tuned_model is None and job.result_files == []


def test_job_creation_checks_the_model_and_the_file(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad_file:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-nope")
    assert bad_file.value.param == "training_file"
    with pytest.raises(openai.BadRequestError) as bad_model:
        client.fine_tuning.jobs.create(model="gpt-x", training_file=_training_file(client))
    assert bad_model.value.param == "model"
    assert "not available for fine-tuning" in bad_model.value.message


def test_a_dpo_job_keeps_its_method_hyperparameters(client: OpenAI) -> None:
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=_training_file(client),
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    assert job.method is not None and job.method.dpo is not None
    hyper = job.method.dpo.hyperparameters
    assert hyper is not None and hyper.beta == 0.2 and hyper.n_epochs == "auto"


def test_refused_jobs_carry_the_providers_message(client: OpenAI, emulator: OpenAIEmulator) -> None:
    emulator.refuse_new_jobs("Fine-tuning is no longer offered for new jobs.")
    with pytest.raises(openai.PermissionDeniedError, match="no longer offered"):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_training_file(client))


def test_a_succeeded_job_has_results_events_checkpoints_and_a_model(
    client: OpenAI, emulator: OpenAIEmulator
) -> None:
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_training_file(client))
    emulator.advance_job(job.id, "running")
    model = emulator.succeed_job(job.id, steps=6, callable_after_calls=1)

    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded" and done.fine_tuned_model == model
    assert model.startswith("ft:gpt-4o-mini-2024-07-18:emulator::")
    # "auto" epochs follow the dataset's size: one example is trained 25 times.
    assert done.hyperparameters.n_epochs == 25 and (done.trained_tokens or 0) > 0
    raw = client.files.content(done.result_files[0]).content
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(raw).decode())))
    losses = [float(r["train_loss"]) for r in rows]
    assert len(rows) == 6 and losses == sorted(losses, reverse=True)

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=50))
    assert events[0].message == "The job has successfully completed"
    assert sum(e.type == "metrics" for e in events) == 6
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints[0].step_number == 6 and checkpoints[0].metrics.train_loss == losses[-1]

    assert client.models.retrieve(model).owned_by == "org-emulator"
    with pytest.raises(openai.NotFoundError):  # a brand-new model is briefly not callable
        _ask(client, model)
    assert (_ask(client, model).choices[0].message.content or "").startswith(f"[{model}]")


def test_a_failed_job_reports_its_error(client: OpenAI, emulator: OpenAIEmulator) -> None:
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_training_file(client))
    emulator.fail_job(job.id, code="invalid_training_file", message="Line 3 is not valid JSON.")
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "invalid_training_file"


def test_jobs_follow_the_real_state_transitions(client: OpenAI, emulator: OpenAIEmulator) -> None:
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_training_file(client))
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.pause(job.id)
    emulator.advance_job(job.id, "running")
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    assert client.fine_tuning.jobs.resume(job.id).status == "running"
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)


def test_jobs_are_listed_newest_first_in_pages(client: OpenAI) -> None:
    training = _training_file(client)
    made = [client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training).id]
    made += [client.fine_tuning.jobs.create(model="gpt-4o", training_file=training).id]
    made += [client.fine_tuning.jobs.create(model="gpt-4.1", training_file=training).id]
    first = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in first.data] == made[::-1][:2] and first.has_more
    assert [j.id for j in client.fine_tuning.jobs.list(limit=2)] == made[::-1]


def test_continued_training_starts_from_an_existing_fine_tune(
    client: OpenAI, emulator: OpenAIEmulator
) -> None:
    first = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=_training_file(client)
    )
    model = emulator.succeed_job(first.id)
    second = client.fine_tuning.jobs.create(model=model, training_file=_training_file(client))
    assert second.model == model
    assert emulator.succeed_job(second.id, fine_tuned_model="ft:custom:x") == "ft:custom:x"


def test_models_report_shutdown_dates_and_only_fine_tunes_delete(
    client: OpenAI, emulator: OpenAIEmulator
) -> None:
    emulator.set_shutdown_date("gpt-4o-mini-2024-07-18", "2027-01-14")
    assert client.models.retrieve("gpt-4o-mini-2024-07-18").shutdown_date == "2027-01-14"
    assert "gpt-4.1" in [m.id for m in client.models.list()]
    with pytest.raises(openai.PermissionDeniedError):
        client.models.delete("gpt-4o")
    emulator.add_model("ft:gpt-4o-mini-2024-07-18:emulator::abc", owned_by="org-emulator")
    assert client.models.delete("ft:gpt-4o-mini-2024-07-18:emulator::abc").deleted
    emulator.remove_model("gpt-4o")
    with pytest.raises(openai.NotFoundError):
        _ask(client, "gpt-4o")


def test_a_deployed_checkpoint_becomes_callable_after_polling(
    client: OpenAI, emulator: OpenAIEmulator
) -> None:
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_training_file(client))
    emulator.succeed_job(job.id)
    checkpoint = client.fine_tuning.jobs.checkpoints.list(job.id).data[0].id
    origin = emulator.base_url.removesuffix("/v1")

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{origin}{path}",
            data=json.dumps(body).encode() if body else None,
            headers={
                "Authorization": f"Bearer {emulator.api_key}",
                "Content-Type": "application/json",
            },
            method=method,
        )
        with urllib.request.urlopen(request) as response:
            return dict(json.loads(response.read()))

    source = f"{job.id}:{checkpoint}"
    created = call(
        "POST", "/v0/models", {"name": "tunebot-v1", "base_model": "x", "source": source}
    )
    assert created["status"] == "pending"
    assert call("GET", "/v0/models/tunebot-v1")["status"] == "pending"
    assert call("GET", "/v0/models/tunebot-v1")["status"] == "active"
    assert (_ask(client, "tunebot-v1").choices[0].message.content or "").startswith("[tunebot-v1]")


@pytest.mark.parametrize(
    "example",
    [
        TRAINING,
        b'{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "name": '
        b'"minji", "content": "\xeb\xb0\xb0\xed\x8f\xac?"}, {"role": "assistant", '
        b'"content": "Friday 3 pm"}]}\n',
        b'{"input": {"messages": [{"role": "user", "content": "hi"}]}, "preferred_output": '
        b'[{"role": "assistant", "content": "hello!"}], "non_preferred_output": '
        b'[{"role": "assistant", "content": "what"}]}\n',
    ],
)
def test_trained_tokens_are_the_estimates_billed_tokens_times_its_epochs(
    client: OpenAI, emulator: OpenAIEmulator, example: bytes
) -> None:
    data = b"".join(example.replace(b"hi", f"hi {i}".encode()) for i in range(20))
    report = analyze(data, model="gpt-4o-mini-2024-07-18")
    file_id = client.files.create(file=("train.jsonl", data), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file_id)
    emulator.succeed_job(job.id)

    done = client.fine_tuning.jobs.retrieve(job.id)
    assert report.epochs == done.hyperparameters.n_epochs == 5
    assert done.trained_tokens == report.tokens.billed_per_epoch * report.epochs


def test_trained_tokens_are_counted_as_the_cookbook_counts_them(
    client: OpenAI, emulator: OpenAIEmulator
) -> None:
    # Worked by hand, as OpenAI's cookbook counts a chat example: 3 per message plus its
    # strings ("user" 1, "hi" 1; "assistant" 1, "hello" 1), 3 to prime the reply: 13.
    line = b'{"messages": [{"role": "user", "content": "hi"}, '
    line += b'{"role": "assistant", "content": "hello"}]}\n'
    file_id = client.files.create(file=("train.jsonl", line * 10), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=file_id, hyperparameters={"n_epochs": 2}
    )
    emulator.succeed_job(job.id)

    assert client.fine_tuning.jobs.retrieve(job.id).trained_tokens == 13 * 10 * 2
