"""Tables: datasets and their clips, training jobs, and the event log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db.base import Base, JSONType, UTCDateTime, utcnow

LABELS = ("positive", "negative", "noise")
SOURCES = ("upload", "recording", "synthetic")
USER_SOURCES = ("recording", "upload")
"""The sources that are the user's own audio, as opposed to synthesized clips."""


class Dataset(Base):
    """A named collection of clips for one wake phrase."""

    __tablename__ = "datasets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    wake_phrase: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    clips: Mapped[list[Clip]] = relationship(back_populates="dataset", passive_deletes=True)


class Clip(Base):
    """One stored recording: 16 kHz mono PCM16 at `datasets/<name>/clips/<id>.wav` (trash/ once deleted)."""

    __tablename__ = "clips"
    __table_args__ = (
        # The same audio twice in one dataset is a mistake the user wants to hear about.
        UniqueConstraint("dataset_id", "sha256"),
        CheckConstraint(f"label IN {LABELS!r}", name="label"),
        CheckConstraint(f"source IN {SOURCES!r}", name="source"),
        Index("ix_clips_dataset_listing", "dataset_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(16))
    speaker: Mapped[str | None] = mapped_column(String(128))
    notes: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="upload")
    original_filename: Mapped[str | None] = mapped_column(String(255))
    original_format: Mapped[str] = mapped_column(String(32))
    original_sample_rate: Mapped[int] = mapped_column(Integer)
    original_channels: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    loudness_dbfs: Mapped[float] = mapped_column(Float)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Dataset QA (shared/clip_quality.py); null for clips stored before it, measured when /quality is first asked.
    peak_dbfs: Mapped[float | None] = mapped_column(Float)
    clipping_ratio: Mapped[float | None] = mapped_column(Float)
    leading_silence_s: Mapped[float | None] = mapped_column(Float)
    trailing_silence_s: Mapped[float | None] = mapped_column(Float)
    activity_share: Mapped[float | None] = mapped_column(Float)
    active_at_edge: Mapped[bool | None] = mapped_column(Boolean)
    # Near-duplicate QA (shared/clip_fingerprint.py): ~640 bytes; null for clips stored before it, made lazily too.
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary)

    dataset: Mapped[Dataset] = relationship(back_populates="clips")

    @property
    def deleted(self) -> bool:
        """Whether the clip is soft-deleted (its file lies in trash/)."""
        return self.deleted_at is not None


JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
JOB_KINDS = ("train", "synthesize", "evaluate")
FINISHED_STATES = ("succeeded", "failed", "cancelled")


class Job(Base):
    """A training job: what it trains on (the exact clip snapshot and resolved config) and how it went."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATES!r}", name="status"),
        CheckConstraint(f"kind IN {JOB_KINDS!r}", name="kind"),
        Index("ix_jobs_dataset_created", "dataset_id", "created_at"),
        Index("ix_jobs_status_heartbeat", "status", "heartbeat_at"),
        Index("ix_jobs_model_job", "model_job_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # The name is kept as well: a job's history outlives a deleted dataset.
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    dataset_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="train", server_default="train")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    preset: Mapped[str | None] = mapped_column(String(16))
    config: Mapped[dict] = mapped_column(JSONType)
    clips: Mapped[list] = mapped_column(JSONType)
    snapshot_sha256: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    worker_hostname: Mapped[str | None] = mapped_column(String(255))
    progress: Mapped[dict] = mapped_column(JSONType, default=dict)
    metrics: Mapped[dict] = mapped_column(JSONType, default=dict)
    artifacts: Mapped[list] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The outbox mark: when the current attempt's message was last handed to the broker; None: not yet.
    # A queued job is sent again once this is old (see api/jobs/outbox.py).
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An evaluate job's model: the train job whose export it scores (no foreign key: history outlives deletion).
    model_job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class Event(Base):
    """One event of the single event schema; `seq` orders them all and is the SSE event id."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_job_seq", "job_id", "seq"),
        Index("ix_events_dataset_seq", "dataset", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    type: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    dataset: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
