"""Held-out data set aside with `split=` on upload is what `/finetune train ds-N` evaluates on,
without the admin naming it: the path a person takes from a DMed file to a gated swap."""

from __future__ import annotations

import re

from admin.poller import tick
from emulators.sandbox import Sandbox
from storage import repo
from storage.models import Job
from tests.eval_helpers import (
    add_dataset,
    announcements,
    command,
    korean_jsonl,
    pairs,
    responses,
)
from tests.sandbox_helpers import ADMIN, NOTIFY, final_reply, send


def only_job(box: Sandbox) -> Job:
    with box.deps.session_factory() as session:
        return session.query(Job).one()


def active(box: Sandbox) -> str:
    with box.deps.session_factory() as session:
        return repo.get_active_model(session, default=box.deps.base_model).model


def test_train_by_the_training_part_uses_the_split_and_holds_back_a_worse_model(
    box: Sandbox,
) -> None:
    training, held_out = add_dataset(box, text="split=0.25")  # 24 examples: 18 + 6
    assert (training.examples, held_out.examples) == (18, 6)
    assert held_out.validation_for_id == training.id

    answer = command(box, "train ds-1")

    assert "started *job-1*" in answer["text"], answer
    assert "Held-out data: ds-2 (6 examples, set aside when ds-1 was added)" in answer["text"]
    job = only_job(box)
    assert job.validation_dataset_id == held_out.id
    # The provider was given the held-out part as its validation file, so it reports
    # validation loss as well.
    sent = box.openai.jobs[job.provider_job_id]
    assert sent["validation_file"] and sent["validation_file"] != sent["training_file"]
    held_out_questions = set(pairs(box, held_out))
    uploaded = box.openai.files[sent["validation_file"]][1].decode()
    assert all(q in uploaded for q in held_out_questions)

    model = box.openai.succeed_job(job.provider_job_id)
    box.openai.script(model, lambda m, msgs: "잘 모르겠습니다.")
    box.openai.script(box.settings.base_model, pairs(box, held_out))

    tick(box.deps.poller())

    assert active(box) == box.settings.base_model
    assert only_job(box).stage == "held_back"
    [notice] = announcements(box, NOTIFY)
    assert "job-1 was held back" in notice["text"]
    assert re.search(r"on 6 held-out examples \(ds-2\)", notice["text"])
    assert len(announcements(box, box.slack.open_dm(ADMIN))) == 1

    tick(box.deps.poller())  # announced once
    assert len(announcements(box, NOTIFY)) == 1

    command(box, "promote job-1")
    assert responses(box, "promoted job-1")
    assert active(box) == model


def test_validation_names_other_held_out_data_over_the_split(box: Sandbox) -> None:
    add_dataset(box, text="split=0.25")  # ds-1 and its held-out ds-2
    dm, ts = send(box, ADMIN, "more.jsonl", korean_jsonl(12))
    assert "Stored as *ds-3*" in final_reply(box, dm, ts, "Stored as", "Nothing was stored")

    answer = command(box, "train ds-1 validation=ds-3")

    assert "Held-out data: ds-3 (12 examples, named with `validation=`)" in answer["text"]
    assert only_job(box).validation_dataset_id == 3


def test_without_a_split_train_says_there_is_no_held_out_data_and_how_to_add_it(
    box: Sandbox,
) -> None:
    add_dataset(box, text="")

    answer = command(box, "train ds-1")

    assert "No held-out data for ds-1" in answer["text"]
    assert "`split=0.1`" in answer["text"] and "`validation=ds-N`" in answer["text"]
    job = only_job(box)
    assert job.validation_dataset_id is None
    assert not box.openai.jobs[job.provider_job_id]["validation_file"]


def test_a_dataset_cannot_be_its_own_held_out_data(box: Sandbox) -> None:
    add_dataset(box, text="")

    answer = command(box, "train ds-1 validation=ds-1")

    assert "ds-1 cannot be its own held-out data" in answer["text"]
    with box.deps.session_factory() as session:
        assert session.query(Job).count() == 0
