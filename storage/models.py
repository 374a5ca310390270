"""Tables: the active model and its history, turns and their answers with feedback, processed
Slack events, datasets and their uploads, jobs and their plan messages, the outbox, evaluations,
local training runs, who looks at the Home tab, and the channels told tunebot does not answer
there."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ActiveModel(Base):
    """The model that answers: the workspace's and one row for each channel with a model of its
    own. Read on every message; swapped by a guarded UPDATE."""

    __tablename__ = "active_model"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Whose model it is: a channel id, or "" for the workspace's (every channel without one of
    # its own). Unique, so two replicas storing the first model of a scope store one row.
    channel_id: Mapped[str] = mapped_column(String(32), unique=True, server_default="")
    # Where the model is served: a provider plugin's name. The pair is what answers.
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    history_id: Mapped[int] = mapped_column(Integer)


class ModelHistory(Base):
    """Every switch of the active model: what, when, and who or which job caused it."""

    __tablename__ = "model_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    set_by_user: Mapped[str | None] = mapped_column(String(64))
    set_by_job: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(32))  # None: the workspace's model


class ChannelPrompt(Base):
    """A channel's own system prompt; a channel without one uses TUNEBOT_SYSTEM_PROMPT."""

    __tablename__ = "channel_prompts"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    prompt: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(32))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Turn(Base):
    """One question answered (or not) in Slack: where, who asked, which model, how it went.
    A finished answer kept for ratings is an `Answer` that references it."""

    __tablename__ = "turns"
    __table_args__ = (
        Index("ix_turns_channel_thread", "channel_id", "thread_ts"),
        # `/finetune usage` and this month's spend read a window of turns by time; the daily
        # limit counts one person's answers since midnight.
        Index("ix_turns_created_at", "created_at"),
        Index("ix_turns_user_created", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    provider: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    error_ref: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChannelNotice(Base):
    """A channel outside TUNEBOT_CHANNELS that has been told, once, that tunebot does not
    answer there; whichever replica inserts the row says it."""

    __tablename__ = "channel_notices"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    told_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SlackEvent(Base):
    """Events already taken: a retry or a twin event (app_mention + message) is dropped."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_key: Mapped[str | None] = mapped_column(String(96), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Dataset(Base):
    """A validated training file, stored once by content; its uploads are in dataset_uploads."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # sha256 of the normalised chat JSONL: the same content is recognised whatever its form.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source_format: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    examples: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    validation_for_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    # "upload" (a file an admin sent) or "feedback" (built from rated answers).
    origin: Mapped[str] = mapped_column(String(16), default="upload", server_default="upload")
    # Loaded only where asked for (repo.list_datasets): most readers need one provider's upload.
    uploads: Mapped[list[DatasetUpload]] = relationship(
        order_by="DatasetUpload.id", lazy="raise", viewonly=True
    )

    @property
    def label(self) -> str:
        return f"ds-{self.id}"


class DatasetUpload(Base):
    """A dataset's file at one provider: uploaded once per (dataset, provider)."""

    __tablename__ = "dataset_uploads"
    __table_args__ = (UniqueConstraint("dataset_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    # storage.upload_repo.UploadStatus: uploading -> uploaded | failed; a stale "uploading"
    # (a crash) is taken over.
    status: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(String(1000))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Job(Base):
    """A fine-tuning job and how far tunebot has carried its outcome (stage)."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_job_id: Mapped[str] = mapped_column(String(128), unique=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    validation_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    base_model: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(32))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    estimated_cost_usd: Mapped[float | None] = mapped_column()
    started_by: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))  # where it was started
    # Trained for one channel (`for=#c`): compared with and swapped into that channel only.
    for_channel: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))  # the provider's own word
    # How far tunebot has carried it: admin.job_stages.JobStage's values, each move one guarded
    # UPDATE, so two schedulers, a crash or a restart carry a job forward exactly once.
    stage: Mapped[str] = mapped_column(String(32), index=True)
    fine_tuned_model: Mapped[str | None] = mapped_column(String(255))
    callable_model: Mapped[str | None] = mapped_column(String(255))
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    error_code: Mapped[str | None] = mapped_column(String(128))
    error_message: Mapped[str | None] = mapped_column(String(2000))
    last_event_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What later stages need from the provider's last word when training ended (its result
    # files, its hyperparameters, the loss per step), so a finished job is not polled again.
    provider_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Whether the new model answers: asked this many times so far, next not before then.
    ready_checks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_ready_check: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def label(self) -> str:
        return f"job-{self.id}"


class JobEventRow(Base):
    """Events the provider reported for a job, stored once each."""

    __tablename__ = "job_events"
    __table_args__ = (UniqueConstraint("job_id", "provider_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    provider_event_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    level: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(2000))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Outbox(Base):
    """Messages to Slack that must go out exactly once, written in the transaction that
    caused them and sent (and retried) by whoever drains the outbox."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))  # a channel id, or a user id to DM
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | sending | sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobPlan(Base):
    """The one message in the admin's DM that shows a job's pipeline, edited in place.

    Each stage change queues a new version of the plan in the outbox; whoever delivers one
    edits this message, never posts a second, and never shows an older version than it shows.
    """

    __tablename__ = "job_plans"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))  # the DM, once conversations.open said
    ts: Mapped[str | None] = mapped_column(String(32))
    shown_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The version a sender was posting or editing in when it last stopped short of recording
    # it: that post or edit may have reached Slack (a post is found again in the DM by its
    # metadata), so nothing older is shown after it. None once recorded.
    sending_version: Mapped[int | None] = mapped_column(Integer)
    # The outbox message whose sender edits it now; others wait until that one is not sending.
    editor: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HomeTab(Base):
    """Someone who opened tunebot's Home tab: whose view is published again when what it shows
    changes (for a while after they last opened it)."""

    __tablename__ = "home_tabs"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    is_admin: Mapped[bool] = mapped_column(Boolean)  # sees the dashboard (as of their last visit)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The newest model switch (model_history.id) their view was refreshed for.
    switch_seen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Evaluation(Base):
    """A comparison of a job's model with another on held-out data: the gate before a job goes
    live (key `gate:<job id>`, one per job), or one run on demand."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    candidate_provider: Mapped[str] = mapped_column(String(32))
    candidate_model: Mapped[str] = mapped_column(String(255))
    current_provider: Mapped[str] = mapped_column(String(32))
    current_model: Mapped[str] = mapped_column(String(255))
    examples: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # running | done
    # The stage its verdict sent the job to (gate only): live | held_back.
    verdict: Mapped[str | None] = mapped_column(String(16))
    # Runs that ended in a provider failure; after a few the job is held back with the reason.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Whoever holds an unexpired lease is answering; a crashed runner's lease runs out.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    busy_seconds: Mapped[float] = mapped_column(default=0.0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requested_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EvalAnswer(Base):
    """One answer (or judge verdict) of an evaluation, stored as it arrives, once."""

    __tablename__ = "eval_answers"
    __table_args__ = (UniqueConstraint("evaluation_id", "example", "side"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"))
    example: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(16))  # candidate | current | judge-1 | judge-2
    text: Mapped[str] = mapped_column(Text)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """Every admin action: who, what, when, and how it ended."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(2000))
    outcome: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TrainingRun(Base):
    """A LoRA training on tunebot's own trainer: the queue row a worker claims and leases."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # storage.training_repo.RunStatus
    base_model: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(16))
    dataset_sha256: Mapped[str] = mapped_column(String(64))
    validation_sha256: Mapped[str | None] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The adapter's folder and vLLM LoRA name: unique per run, chosen when queued.
    adapter_name: Mapped[str] = mapped_column(String(128), unique=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    checkpoint: Mapped[str | None] = mapped_column(String(1000))
    error: Mapped[str | None] = mapped_column(String(2000))
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the adapter's config names as its base model: the model vLLM was started with (its
    # /v1/models `root`), which vLLM's filesystem resolver requires; None: the trainer's own.
    served_base: Mapped[str | None] = mapped_column(String(255))
    # When tunebot first found the adapter served nowhere (not active, not a rollback target,
    # no job on its way); cleared if it is served again before its folder goes.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When its folder's removal was claimed, once, after the retention period.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TrainingEvent(Base):
    """What a training run reported: progress, warnings, checkpoints, the outcome."""

    __tablename__ = "training_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    level: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(2000))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Answer(Base):
    """A finished answer to a turn, kept for ratings; texts are deleted after the keep days.

    Where, for whom, by which model and when are the turn's; only what is the answer's own is
    here.
    """

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id"), unique=True)
    # The bot's last message of the answer (it carries the feedback buttons), in the turn's
    # channel; the turn's message_ts is the question's.
    reply_ts: Mapped[str] = mapped_column(String(32), index=True)
    is_dm: Mapped[bool] = mapped_column(Boolean)
    # The messages sent to the model; None is SQL NULL, so deleted prompts read as absent.
    prompt: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    text: Mapped[str | None] = mapped_column(Text)
    # Every reader of an answer wants its turn (channel, model, time); one join, no lazy load.
    turn: Mapped[Turn] = relationship(lazy="joined", innerjoin=True)


class AnswerVote(Base):
    """One person's vote on one answer: a second click changes it."""

    __tablename__ = "answer_votes"
    __table_args__ = (UniqueConstraint("answer_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    vote: Mapped[str] = mapped_column(String(16))  # Vote: positive | negative
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AnswerCorrection(Base):
    """A better answer someone suggested; one per person and answer, the latest kept."""

    __tablename__ = "answer_corrections"
    __table_args__ = (UniqueConstraint("answer_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AgentPrompt(Base):
    """A suggested prompt the agent DM offers, as admins set them; none stored: the defaults."""

    __tablename__ = "agent_prompts"

    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(String(1000))
    set_by: Mapped[str] = mapped_column(String(32))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AgentGreeting(Base):
    """Someone the agent DM has greeted: once per person, whichever replica sees them first."""

    __tablename__ = "agent_greetings"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    greeted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


__all__ = [
    "ActiveModel",
    "AgentGreeting",
    "AgentPrompt",
    "Answer",
    "AnswerCorrection",
    "AnswerVote",
    "AuditEntry",
    "Base",
    "ChannelNotice",
    "ChannelPrompt",
    "Dataset",
    "DatasetUpload",
    "EvalAnswer",
    "Evaluation",
    "HomeTab",
    "Job",
    "JobEventRow",
    "JobPlan",
    "ModelHistory",
    "Outbox",
    "SlackEvent",
    "TrainingEvent",
    "TrainingRun",
    "Turn",
    "utcnow",
]
