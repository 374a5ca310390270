"""A database written by the code before migration 0008 upgrades with nothing a user sees lost:
dataset uploads recorded only in the old dataset columns, or in both places, still train."""

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
from sqlalchemy import Connection, bindparam, select, text

from emulators.openai import OpenAIEmulator
from emulators.sandbox import Sandbox
from emulators.sandbox_serve import emulated_provider_env
from storage import job_repo, upload_repo
from storage.db import alembic_config, build_engine, upgrade
from storage.models import Base, DatasetUpload, UTCDateTime, utcnow

ADMIN = "UADMIN001"
CHANNEL = "C0GENERAL1"
MODEL = "gpt-4o-mini-2024-07-18"
LONG_AGO = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _file_at(emulator: OpenAIEmulator, name: str) -> str:
    client = openai.OpenAI(api_key=emulator.api_key, base_url=emulator.base_url)
    line = b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n'
    return client.files.create(file=(name, io.BytesIO(line * 12)), purpose="fine-tune").id


def _dataset(db: Connection, dataset_id: int, **columns: Any) -> None:
    """A dataset row as the code before 0008 wrote it: its upload in the dataset's columns."""
    values = {
        "id": dataset_id,
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
    insert = text(f"INSERT INTO datasets ({names}) VALUES ({', '.join(':' + n for n in values)})")
    db.execute(insert.bindparams(bindparam("created_at", type_=UTCDateTime())), values)


def _upload_row(db: Connection, dataset_id: int, status: str, file_id: str | None) -> None:
    db.execute(
        text(
            "INSERT INTO dataset_uploads (dataset_id, provider, status, file_id, started_at) "
            "VALUES (:d, 'openai', :s, :f, :t)"
        ).bindparams(bindparam("t", type_=UTCDateTime())),
        {"d": dataset_id, "s": status, "f": file_id, "t": LONG_AGO},
    )


@pytest.fixture
def files() -> Iterator[tuple[OpenAIEmulator, list[str]]]:
    with OpenAIEmulator() as emulator:
        yield emulator, [_file_at(emulator, f"set-{n}.jsonl") for n in (1, 2)]


@pytest.fixture
def old_database(database_url: str, files: tuple[OpenAIEmulator, list[str]]) -> str:
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
    engine.dispose()
    return database_url


@pytest.fixture
def box(old_database: str, files: tuple[OpenAIEmulator, list[str]]) -> Iterator[Sandbox]:
    emulator, _ = files
    with Sandbox.open(
        database_url=old_database,
        admins=frozenset({ADMIN}),
        provider_env=emulated_provider_env(emulator, ("openai",)),
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


def test_a_downgrade_puts_each_dataset_upload_back_in_its_columns(old_database: str) -> None:
    engine = build_engine(old_database)
    upgrade(engine)
    command.downgrade(alembic_config(engine), "0007")
    with engine.connect() as db:
        rows = db.execute(
            text("SELECT id, status, provider, provider_file_id, error FROM datasets ORDER BY id")
        ).all()
    engine.dispose()

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
