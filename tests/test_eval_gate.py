"""The eval gate: a new model answers the held-out prompts beside the current one and goes live
only if it scores at least as well; otherwise it is held back, and admins can promote it."""

from __future__ import annotations

import re
from pathlib import Path

from admin.poller import tick
from emulators.sandbox import Sandbox
from storage import repo
from storage.models import AuditEntry, Evaluation, Job
from tests.eval_helpers import (
    add_dataset,
    announcements,
    eval_requests,
    pairs,
    responses,
    train,
    trained,
    within_slack_limits,
)
from tests.sandbox_helpers import ADMIN, NOTIFY, command


def active(box: Sandbox) -> str:
    with box.deps.session_factory() as session:
        return repo.get_active_model(session, default=box.deps.base_model).model


def evaluation(box: Sandbox) -> Evaluation:
    with box.deps.session_factory() as session:
        [row] = session.query(Evaluation).all()
        return row


def test_a_candidate_that_reproduces_the_references_goes_live_with_its_scores(
    box: Sandbox,
) -> None:
    model, references = trained(box, candidate="references")

    report = tick(box.deps.poller())

    assert report.went_live == ["live"] and active(box) == model
    [announcement] = announcements(box, NOTIFY)
    assert model in announcement["text"]
    assert "chrF *100.0* for the new model" in announcement["text"]
    assert f"on {len(references)} held-out examples (ds-2)" in announcement["text"]
    assert f"{len(references)} better, 0 tied, 0 worse" in announcement["text"]
    assert within_slack_limits(announcement["blocks"])
    fields = [f["text"] for b in announcement["blocks"] for f in b.get("fields") or []]
    assert any("chrF *100.0*" in f for f in fields)
    assert any(f.startswith("*Current model*") for f in fields)
    shown = [b for b in announcement["blocks"] if "*Reference:*" in str(b)]
    assert len(shown) == min(3, len(references))
    dm = box.slack.open_dm(ADMIN)
    assert len(announcements(box, dm)) == 1


def test_a_worse_candidate_is_held_back_and_the_active_model_keeps_answering(
    box: Sandbox,
) -> None:
    model, references = trained(box, candidate="잘 모르겠습니다.", current="references")

    tick(box.deps.poller())

    assert active(box) == box.settings.base_model
    with box.deps.session_factory() as session:
        assert session.query(Job).one().stage == "held_back"
    [notice] = announcements(box, NOTIFY)
    assert "job-1 was held back" in notice["text"] and model in notice["text"]
    assert re.search(r"chrF \*\d\.\d\* for the new model vs \*100\.0\*", notice["text"])
    assert f"0 better, 0 tied, {len(references)} worse" in notice["text"]
    assert "/finetune promote job-1" in notice["text"]
    assert within_slack_limits(notice["blocks"])
    assert len(announcements(box, box.slack.open_dm(ADMIN))) == 1

    tick(box.deps.poller())  # held back is final: nothing more is asked or said
    assert len(announcements(box, NOTIFY)) == 1
    user = box.slack.add_user("minji")
    asked = box.slack.post_as_user(user, NOTIFY, f"<@{box.slack.bot_user_id}> 배포는 언제죠?")
    assert box.wait_for_turn(NOTIFY, asked.ts).model == box.settings.base_model


def test_promote_makes_a_held_back_model_live_and_is_audited(box: Sandbox) -> None:
    model, _ = trained(box, candidate="잘 모르겠습니다.", current="references")
    tick(box.deps.poller())
    assert active(box) == box.settings.base_model

    command(box, "promote job-1")

    [answer] = responses(box, "promoted job-1")
    assert answer["response_type"] == "in_channel" and model in answer["text"]
    assert active(box) == model
    with box.deps.session_factory() as session:
        assert session.query(Job).one().stage == "live"
        assert repo.model_history(session)[0].reason == "promote"

    def audited() -> list[AuditEntry]:  # written just after the reply
        with box.deps.session_factory() as session:
            return session.query(AuditEntry).filter(AuditEntry.action == "/finetune promote").all()

    [entry] = box.slack.wait_for(audited)
    assert (entry.user_id, entry.outcome) == (ADMIN, f"promoted {model}")
    tick(box.deps.poller())
    assert any("made" in m["text"] for m in box.slack.messages(NOTIFY) if m.get("bot_id"))

    command(box, "promote job-1")  # only a held-back job can be promoted
    assert responses(box, "job-1 is not held back (it is live)")


def test_a_non_admin_cannot_promote(box: Sandbox) -> None:
    trained(box, candidate="잘 모르겠습니다.", current="references")
    tick(box.deps.poller())
    user = box.slack.add_user("minji")
    answer = command(box, "promote job-1", user=user)
    assert "Only tunebot admins" in answer["text"]
    assert active(box) == box.settings.base_model


def test_without_held_out_data_it_goes_live_and_says_it_was_not_evaluated(
    box: Sandbox,
) -> None:
    add_dataset(box, text="")
    train(box, "train ds-1")
    with box.deps.session_factory() as session:
        job = session.query(Job).one()
    model = box.openai.succeed_job(job.provider_job_id)

    tick(box.deps.poller())

    assert active(box) == model
    [announcement] = announcements(box, NOTIFY)
    assert "Not evaluated: job-1 had no held-out data" in announcement["text"]
    assert "`split=0.1`" in announcement["text"] and "`validation=ds-N`" in announcement["text"]
    with box.deps.session_factory() as session:
        assert session.query(Evaluation).count() == 0
    command(box, "eval job-1")
    assert responses(box, "job-1 was not evaluated: it had no held-out data")


def test_the_held_out_prompts_reached_both_models_and_none_is_a_training_example(
    box: Sandbox,
) -> None:
    model, references = trained(box, candidate="references")
    with box.deps.session_factory() as session:
        training = session.query(Job).one().dataset_id
        training_questions = set(pairs(box, repo.get_dataset(session, dataset_id=training)))

    tick(box.deps.poller())

    held_out = set(references)
    assert held_out and not held_out & training_questions
    for name in (model, box.settings.base_model):
        asked = eval_requests(box, name, held_out | training_questions)
        assert sorted(asked) == sorted(held_out)  # each once, and only held-out ones


def test_the_stored_report_has_token_usage_and_time(box: Sandbox) -> None:
    _, references = trained(box, candidate="references")

    tick(box.deps.poller())

    row = evaluation(box)
    assert row.status == "done" and row.verdict == "live" and row.report is not None
    report = row.report
    for side in ("candidate", "current"):
        assert report[side]["prompt_tokens"] > 0 and report[side]["completion_tokens"] > 0
    assert report["seconds"]["answering"] > 0 and report["seconds"]["scoring"] >= 0
    assert report["seconds"]["elapsed"] >= 0
    assert len(report["items"]) == len(references) == report["examples"]
    assert report["metric"].startswith("chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0")

    command(box, "eval job-1")
    [shown] = responses(box, "*Evaluation of job-1*")
    assert "went live" in shown["text"] and within_slack_limits(shown["blocks"])
    assert "tokens" in str(shown["blocks"]) and "s answering" in str(shown["blocks"])


def test_eval_off_goes_live_as_before(database_url: str, tmp_path: Path) -> None:
    with Sandbox.open(
        database_url=database_url,
        admins=frozenset({ADMIN}),
        notify_channel=NOTIFY,
        data_dir=tmp_path / "data",
        eval_enabled=False,
    ) as box:
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_channel("ml", channel_id=NOTIFY)
        model, _ = trained(box, candidate="잘 모르겠습니다.", current="references")
        tick(box.deps.poller())
        assert active(box) == model
        [announcement] = announcements(box, NOTIFY)
        assert "chrF" not in announcement["text"] and "Not evaluated" not in announcement["text"]
