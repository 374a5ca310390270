"""A round-1 database (one provider, bare model names) upgrades and keeps answering."""

from __future__ import annotations

import io

import openai
from sqlalchemy import text

from emulators.openai import OpenAIEmulator
from emulators.sandbox import Sandbox
from storage import repo, upload_repo
from storage.db import build_engine, upgrade
from storage.models import Dataset, utcnow
from storage.repo import ModelRef
from tests.sandbox_helpers import ADMIN, NOTIFY, command, only_job

OLD_MODEL = "ft:gpt-4o-mini-2024-07-18:acme::round1"


def _round_one_database(database_url: str, file_id: str) -> None:
    engine = build_engine(database_url)
    upgrade(engine, "0003")
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO model_history (id, model, activated_at, set_by_job, reason) "
                "VALUES (1, :m, CURRENT_TIMESTAMP, 'job-1', 'job')"
            ),
            {"m": OLD_MODEL},
        )
        db.execute(
            text(
                "INSERT INTO active_model (id, model, since, history_id) "
                "VALUES (1, :m, CURRENT_TIMESTAMP, 1)"
            ),
            {"m": OLD_MODEL},
        )
        db.execute(
            text(
                "INSERT INTO datasets (id, name, uploaded_by, created_at, sha256, source_format, "
                "model, examples, size_bytes, report, status, provider, provider_file_id) "
                "VALUES (1, 'faq.jsonl', :u, CURRENT_TIMESTAMP, :sha, 'chat_jsonl', "
                "'gpt-4o-mini-2024-07-18', 12, 100, :report, 'uploaded', 'openai', :f)"
            ),
            {"u": ADMIN, "sha": "ab" * 32, "report": '{"valid": true, "epochs": 3}', "f": file_id},
        )
    engine.dispose()


def _file_at(emulator: OpenAIEmulator) -> str:
    client = openai.OpenAI(api_key=emulator.api_key, base_url=emulator.base_url)
    line = b'{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}\n'
    uploaded = client.files.create(file=("faq.jsonl", io.BytesIO(line * 12)), purpose="fine-tune")
    return uploaded.id


def test_a_round_one_database_keeps_its_model_answering_at_its_provider(
    database_url: str,
) -> None:
    with OpenAIEmulator() as first:
        _round_one_database(database_url, _file_at(first))
    with Sandbox.open(
        database_url=database_url, admins=frozenset({ADMIN}), notify_channel=NOTIFY
    ) as box:
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_channel("ml", channel_id=NOTIFY)
        box.openai.add_model(OLD_MODEL)
        with box.deps.session_factory() as session:
            assert repo.get_active_model(session, default=box.deps.base_model) == ModelRef(
                "openai", OLD_MODEL
            )
            assert repo.model_history(session)[0].ref == ModelRef("openai", OLD_MODEL)
            upload = upload_repo.find_upload(session, dataset_id=1, provider="openai")
            assert upload is not None and upload.status == "uploaded"

        asked = box.slack.post_as_user(ADMIN, NOTIFY, f"<@{box.slack.bot_user_id}> still there?")
        turn = box.wait_for_turn(NOTIFY, asked.ts)

        assert (turn.outcome, turn.provider, turn.model) == ("answered", "openai", OLD_MODEL)
        assert box.openai.chat_requests[-1]["model"] == OLD_MODEL


def test_a_dataset_without_a_local_copy_trains_where_it_was_uploaded_and_nowhere_else(
    database_url: str,
) -> None:
    with (
        OpenAIEmulator() as nebius,
        Sandbox.open(
            database_url=database_url,
            admins=frozenset({ADMIN}),
            notify_channel=NOTIFY,
            provider_env={"NEBIUS_API_KEY": nebius.api_key, "NEBIUS_BASE_URL": nebius.base_url},
        ) as box,
    ):
        box.slack.add_user("admin", user_id=ADMIN)
        box.slack.add_channel("ml", channel_id=NOTIFY)
        file_id = _file_at(box.openai)
        # What migration 0004 leaves for a round-1 dataset: its upload, and no stored copy.
        with box.deps.session_factory.begin() as session:
            session.add(
                Dataset(
                    id=1,
                    name="faq.jsonl",
                    uploaded_by=ADMIN,
                    sha256="ab" * 32,
                    source_format="chat_jsonl",
                    model="gpt-4o-mini-2024-07-18",
                    examples=12,
                    size_bytes=100,
                    report={"valid": True, "epochs": 3},
                )
            )
            session.flush()
            upload_repo.claim_upload(
                session, dataset_id=1, provider="openai", stale_before=utcnow()
            )
            upload_repo.finish_upload(
                session, dataset_id=1, provider="openai", file_id=file_id, error=None
            )

        refused = command(box, "train ds-1 provider=nebius")
        started = command(box, "train ds-1")

        assert "stored before tunebot kept copies of datasets" in refused["text"]
        assert "It is only at OpenAI. Send the file again" in refused["text"]
        assert nebius.jobs == {}
        assert "started *job-1*" in started["text"]
        assert box.openai.jobs[only_job(box).provider_job_id]["training_file"] == file_id
