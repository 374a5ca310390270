"""A database written by the code before migration 0008 upgrades with nothing a user sees lost:
dataset uploads recorded only in the old dataset columns, or in both places, still train; every
rated answer finds its turn (or gets one), so counts, corrections and feedback datasets stay."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Integer,
    String,
    bindparam,
    column,
    func,
    select,
    table,
    text,
)
from sqlalchemy.sql.expression import ColumnClause, TableClause

from admin.feedback import forget_old_texts
from admin.providers.registry import Registry
from emulators.openai import OpenAIEmulator
from emulators.sandbox import Sandbox
from emulators.sandbox_serve import emulated_provider_env
from storage import feedback_repo, job_repo, upload_repo
from storage.db import alembic_config, build_engine, upgrade
from storage.models import (
    Answer,
    AnswerCorrection,
    AnswerVote,
    Base,
    DatasetUpload,
    Turn,
    UTCDateTime,
    utcnow,
)

ADMIN = "UADMIN001"
CHANNEL = "C0GENERAL1"
MODEL = "gpt-4o-mini-2024-07-18"
TUNED = "ft:gpt-4o-mini-2024-07-18:acme::v2"
LONG_AGO = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
DM = "D0MINJI0001"
ASKER, VOTER, OTHER = "U0MINJI001", "U0JUN00001", "U0SORA0001"


def _old_table(name: str, *extra: ColumnClause[Any]) -> TableClause:
    """turns or answers as the code before 0008 wrote them (the models have other columns)."""
    strings = ("channel_id", "thread_ts", "message_ts", "user_id", "provider", "model")
    return table(
        name,
        column("id", Integer()),
        *(column(n, String()) for n in strings),
        column("created_at", UTCDateTime()),
        *extra,
    )


TURNS = _old_table("turns", column("outcome", String()))
ANSWERS = _old_table(
    "answers", column("is_dm", Boolean()), column("prompt", JSON()), column("text", String())
)
VOTES = table(
    "answer_votes",
    column("answer_id", Integer()),
    column("user_id", String()),
    column("vote", String()),
    column("created_at", UTCDateTime()),
    column("updated_at", UTCDateTime()),
)
CORRECTIONS = table(
    "answer_corrections",
    column("answer_id", Integer()),
    column("user_id", String()),
    column("text", String()),
    column("created_at", UTCDateTime()),
)


def _file_at(emulator: OpenAIEmulator, name: str) -> str:
    client = openai.OpenAI(api_key=emulator.api_key, base_url=emulator.base_url)
    line = b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n'
    return client.files.create(file=(name, io.BytesIO(line * 12)), purpose="fine-tune").id


def _dataset(db: Connection, dataset_id: int, **columns: Any) -> None:
    """A dataset row as the code before 0008 wrote it: its upload in the dataset's columns.
    Its id comes from the database, as it did (so PostgreSQL's sequence moves on)."""
    values = {
        "name": f"set-{dataset_id}.jsonl",
        "uploaded_by": ADMIN,
        "created_at": LONG_AGO,
        "sha256": f"{dataset_id:064x}",
        "source_format": "chat_jsonl",
        "model": MODEL,
        "examples": 12,
        "size_bytes": 100,
        "report": json.dumps({"valid": True, "epochs": 3}),
        "provider": None,
        "provider_file_id": None,
        "error": None,
        "origin": "upload",
        **columns,
    }
    names = ", ".join(values)
    insert = text(
        f"INSERT INTO datasets ({names}) VALUES ({', '.join(':' + n for n in values)}) RETURNING id"
    )
    inserted = db.execute(insert.bindparams(bindparam("created_at", type_=UTCDateTime())), values)
    assert inserted.scalar_one() == dataset_id


def _upload_row(db: Connection, dataset_id: int, status: str, file_id: str | None) -> None:
    db.execute(
        text(
            "INSERT INTO dataset_uploads (dataset_id, provider, status, file_id, started_at) "
            "VALUES (:d, 'openai', :s, :f, :t)"
        ).bindparams(bindparam("t", type_=UTCDateTime())),
        {"d": dataset_id, "s": status, "f": file_id, "t": LONG_AGO},
    )


def _answered(
    db: Connection,
    question_ts: str,
    reply_ts: str,
    at: datetime,
    *,
    thread_ts: str | None = None,
    channel: str = CHANNEL,
    model: str = MODEL,
    turn: bool = True,
    texts: bool = True,
) -> int:
    """A question answered as bot/chat.py wrote it before 0008: the answer (a copy of the
    turn's columns, and the reply's ts), then the turn, in one transaction. Without `turn`,
    the turn's write failed (before they shared a transaction)."""
    where = {
        "channel_id": channel,
        "thread_ts": thread_ts or question_ts,
        "user_id": ASKER,
        "provider": "openai",
        "model": model,
    }
    prompt = [
        {"role": "system", "content": "You are the team's bot."},
        {"role": "user", "content": f"Question {question_ts}?"},
    ]
    answer_id = db.execute(
        ANSWERS.insert()
        .values(
            **where,
            message_ts=reply_ts,
            is_dm=channel == DM,
            prompt=prompt if texts else None,
            text=f"Answer {question_ts}." if texts else None,
            created_at=at,
        )
        .returning(ANSWERS.c.id)
    ).scalar_one()
    if turn:
        at += timedelta(milliseconds=3)
        db.execute(
            TURNS.insert().values(
                **where, message_ts=question_ts, outcome="answered", created_at=at
            )
        )
    return int(answer_id)


def _vote(db: Connection, answer_id: int, user: str, vote: str, at: datetime) -> None:
    db.execute(
        VOTES.insert().values(
            answer_id=answer_id, user_id=user, vote=vote, created_at=at, updated_at=at
        )
    )


def _rated_answers(db: Connection) -> dict[str, int]:
    """Answers as the code before 0008 left them, rated; their ids by name."""
    day = utcnow() - timedelta(days=1)
    ids: dict[str, int] = {}
    # A thread: a question, a follow-up, then an apology (a turn with no answer).
    ids["first"] = _answered(db, "1764000000.000100", "1764000000.000200", day)
    ids["follow-up"] = _answered(
        db,
        "1764000000.000300",
        "1764000000.000400",
        day + timedelta(seconds=40),
        thread_ts="1764000000.000100",
    )
    db.execute(
        TURNS.insert().values(
            channel_id=CHANNEL,
            thread_ts="1764000000.000100",
            message_ts="1764000000.000500",
            user_id=ASKER,
            provider="openai",
            model=MODEL,
            outcome="provider_error",
            created_at=day + timedelta(seconds=80),
        )
    )
    _vote(db, ids["first"], VOTER, "positive", day)
    _vote(db, ids["follow-up"], VOTER, "positive", day)
    for n in range(10):
        # The last one's turn was never written.
        at = day + timedelta(minutes=10 + n)
        answer_id = _answered(
            db, f"17640010{n:02d}.000100", f"17640010{n:02d}.000200", at, turn=n < 9
        )
        ids[f"corrected {n}"] = answer_id
        _vote(db, answer_id, VOTER, "negative", at)
        db.execute(
            CORRECTIONS.insert().values(
                answer_id=answer_id, user_id=VOTER, text=f"The right answer {n}.", created_at=at
            )
        )
    at = day + timedelta(hours=1)
    ids["mixed"] = _answered(db, "1764002000.000100", "1764002000.000200", at, model=TUNED)
    _vote(db, ids["mixed"], VOTER, "positive", at)
    _vote(db, ids["mixed"], OTHER, "negative", at)
    ids["disliked"] = _answered(db, "1764003000.000100", "1764003000.000200", at, model=TUNED)
    _vote(db, ids["disliked"], VOTER, "negative", at + timedelta(minutes=5))
    ids["dm"] = _answered(db, "1764004000.000100", "1764004000.000200", at, channel=DM, texts=False)
    _vote(db, ids["dm"], ASKER, "positive", at)
    old = utcnow() - timedelta(days=100)
    ids["old"] = _answered(db, "1755000000.000100", "1755000000.000200", old)
    _vote(db, ids["old"], VOTER, "negative", old)
    return ids


@pytest.fixture
def files() -> Iterator[tuple[OpenAIEmulator, list[str]]]:
    with OpenAIEmulator() as emulator:
        yield emulator, [_file_at(emulator, f"set-{n}.jsonl") for n in (1, 2)]


@pytest.fixture
def answer_ids() -> dict[str, int]:
    """The rated answers of `old_database`, by name (filled by it)."""
    return {}


@pytest.fixture
def old_database(
    database_url: str, files: tuple[OpenAIEmulator, list[str]], answer_ids: dict[str, int]
) -> str:
    """The database at 0007 holding what the code before 0008 wrote."""
    _, (round_one, both) = files
    engine = build_engine(database_url)
    upgrade(engine, "0007")
    with engine.begin() as db:
        # Round 1: the upload only in the dataset's columns, and no stored copy of the file.
        _dataset(db, 1, status="uploaded", provider="openai", provider_file_id=round_one)
        # Intake since round 2: both places; a failed upload later done by training.
        _dataset(db, 2, status="upload_failed", provider="openai", error="OpenAI was down")
        _upload_row(db, 2, "uploaded", both)
        # A failed upload, and an upload a crash abandoned before it knew its provider.
        _dataset(db, 3, status="upload_failed", provider="openai", error="OpenAI said 500")
        _dataset(db, 4, status="uploading")
        answer_ids.update(_rated_answers(db))
    engine.dispose()
    return database_url


@pytest.fixture
def box(old_database: str, files: tuple[OpenAIEmulator, list[str]]) -> Iterator[Sandbox]:
    emulator, _ = files
    with Sandbox.open(
        database_url=old_database,
        admins=frozenset({ADMIN}),
        provider_env=emulated_provider_env(emulator, ("openai",), Registry.discover()),
    ) as b:
        b.slack.add_user("admin", user_id=ADMIN)
        b.slack.add_channel("general", channel_id=CHANNEL)
        yield b


def finetune(box: Sandbox, args: str) -> str:
    before = len(box.slack.responses)
    status, body = box.slack.send_slash_command(ADMIN, CHANNEL, "/finetune", args)
    assert status == 200
    if body and '"text"' in body:
        return str(json.loads(body)["text"])
    return str(box.slack.wait_for(lambda: box.slack.responses[before:], timeout=30)[0]["text"])


def test_the_datasets_list_shows_every_upload_the_old_columns_recorded(box: Sandbox) -> None:
    lines = finetune(box, "datasets").splitlines()

    def line(dataset_id: int) -> str:
        return next(x for x in lines if f"*ds-{dataset_id}*" in x)

    assert "uploaded to OpenAI" in line(1) and "uploaded to OpenAI" in line(2)
    assert "upload failed at OpenAI" in line(3) and "uploading to OpenAI" in line(4)
    assert all("12 examples" in line(n) for n in (1, 2, 3, 4))


@pytest.mark.parametrize("dataset_id", [1, 2])
def test_training_uses_the_uploaded_file_without_uploading_it_again(
    box: Sandbox, files: tuple[OpenAIEmulator, list[str]], dataset_id: int
) -> None:
    emulator, file_ids = files
    before = dict(emulator.files)

    started = finetune(box, f"train ds-{dataset_id}")

    assert "started *job-1*" in started
    with box.deps.session_factory() as session:
        [job] = job_repo.list_jobs(session)
    assert emulator.jobs[job.provider_job_id]["training_file"] == file_ids[dataset_id - 1]
    assert emulator.files == before


def test_a_failed_or_abandoned_upload_is_taken_over_and_its_error_kept(box: Sandbox) -> None:
    with box.deps.session_factory.begin() as session:
        failed = upload_repo.find_upload(session, dataset_id=3, provider="openai")
        assert failed is not None and failed.error == "OpenAI said 500"
        # The crash left no provider: the deployment's provider is where round 1 uploaded.
        abandoned = upload_repo.find_upload(session, dataset_id=4, provider="openai")
        assert abandoned is not None and abandoned.started_at == LONG_AGO
        stale = utcnow() - timedelta(minutes=30)
        for dataset_id in (3, 4):
            assert upload_repo.claim_upload(
                session, dataset_id=dataset_id, provider="openai", stale_before=stale
            )
        rows = session.scalars(select(DatasetUpload).order_by(DatasetUpload.dataset_id)).all()
        assert [(r.dataset_id, r.provider) for r in rows] == [(n, "openai") for n in (1, 2, 3, 4)]


def test_a_downgrade_puts_the_copied_columns_back(
    old_database: str, answer_ids: dict[str, int]
) -> None:
    engine = build_engine(old_database)
    upgrade(engine)
    command.downgrade(alembic_config(engine), "0007")
    with engine.connect() as db:
        rows = db.execute(
            text("SELECT id, status, provider, provider_file_id, error FROM datasets ORDER BY id")
        ).all()
        follow_up = db.execute(select(ANSWERS).where(ANSWERS.c.id == answer_ids["follow-up"])).one()
        rated = db.execute(text("SELECT count(*) FROM answer_votes")).scalar()
    engine.dispose()

    assert (follow_up.channel_id, follow_up.thread_ts, follow_up.message_ts) == (
        CHANNEL,
        "1764000000.000100",
        "1764000000.000400",
    )
    assert (follow_up.user_id, follow_up.model, rated) == (ASKER, MODEL, 17)

    assert [tuple(r)[1:3] for r in rows] == [
        ("uploaded", "openai"),
        ("uploaded", "openai"),
        ("upload_failed", "openai"),
        ("uploading", "openai"),
    ]
    assert rows[0].provider_file_id and rows[1].provider_file_id
    assert rows[2].error == "OpenAI said 500"


def test_downgrading_and_upgrading_again_leaves_no_autogenerate_diff(database_url: str) -> None:
    engine = build_engine(database_url)
    upgrade(engine)
    command.downgrade(alembic_config(engine), "0007")
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_each_answer_is_linked_to_the_turn_it_answered(
    box: Sandbox, answer_ids: dict[str, int]
) -> None:
    with box.deps.session_factory() as session:
        answers = {a.id: a for a in session.scalars(select(Answer))}
        turns = session.scalar(select(func.count(Turn.id)))
        votes = session.scalar(select(func.count(AnswerVote.id)))
        corrections = session.scalar(select(func.count(AnswerCorrection.id)))
        clicked = feedback_repo.find_answer(
            session, channel_id=CHANNEL, reply_ts="1764000000.000400"
        )

    def turn_of(name: str) -> Turn:
        return answers[answer_ids[name]].turn

    assert len(answers) == len(answer_ids) == 16
    assert turn_of("first").message_ts == "1764000000.000100"
    assert turn_of("follow-up").message_ts == "1764000000.000300"
    assert answers[answer_ids["follow-up"]].reply_ts == "1764000000.000400"
    assert clicked is not None and clicked.id == answer_ids["follow-up"]
    assert turn_of("mixed").model == TUNED and turn_of("dm").channel_id == DM
    # The answer whose turn was never written got one; the 16 turns written are one each.
    rebuilt = turn_of("corrected 9")
    assert (rebuilt.channel_id, rebuilt.thread_ts, rebuilt.message_ts) == (
        CHANNEL,
        "1764001009.000100",
        "1764001009.000100",
    )
    assert (rebuilt.user_id, rebuilt.model, rebuilt.outcome) == (ASKER, MODEL, "answered")
    assert turns == 17 and (votes, corrections) == (17, 10)
    assert len({a.turn_id for a in answers.values()}) == 16


def test_feedback_counts_and_the_latest_negatives_are_kept(box: Sandbox) -> None:
    summary = finetune(box, "feedback")

    week, month = summary.split("*Last 30 days*")
    for period in (week, month):
        assert "10 corrections" in period
        assert f"• `{MODEL}` at OpenAI: 👍 3  👎 10" in period
        assert f"• `{TUNED}` at OpenAI: 👍 1  👎 2" in period
    negatives = summary.split("*Latest answers rated 👎*")[1].splitlines()[1:6]
    assert [TUNED in line for line in negatives] == [True, True, False, False, False]
    assert all(f"`{MODEL}`" in line for line in negatives[2:])


def test_the_feedback_dataset_is_built_from_the_same_ratings_and_corrections(
    box: Sandbox, files: tuple[OpenAIEmulator, list[str]]
) -> None:
    emulator, _ = files

    built = finetune(box, "feedback dataset min_votes=1")

    assert "2 answers rated 👍, 10 answers corrected → 12 chat examples, 10 preference pairs" in (
        built
    )
    assert "Left out: 1 answer rated both 👍 and 👎" in built
    assert "Left out: 2 answers rated 👎 without a correction" in built
    assert "Left out: 1 answer given in DMs" in built
    assert "Stored as *ds-5*" in built and "Stored as *ds-6*" in built
    sent = [c.decode() for f, c in emulator.files.values() if "feedback" in f["filename"]]
    assert len(sent) == 2
    # The correction of the answer whose turn was rebuilt is among them.
    assert all("The right answer 9." in content for content in sent)


def test_the_retention_job_empties_only_the_old_answer(
    box: Sandbox, answer_ids: dict[str, int]
) -> None:
    emptied = forget_old_texts(box.deps.session_factory, keep_days=90, now=utcnow())

    with box.deps.session_factory() as session:
        kept = {a.id: a.text for a in session.scalars(select(Answer))}
    assert emptied == 1 and kept[answer_ids["old"]] is None
    assert kept[answer_ids["first"]] == "Answer 1764000000.000100."
