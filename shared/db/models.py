"""Tables: datasets and their clips, training jobs, the event log, and deployments with their devices."""

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
SOURCES = ("upload", "recording", "synthetic", "device")
USER_SOURCES = ("recording", "upload", "device")
"""The sources that are the user's own audio, as opposed to synthesized clips."""
UNREVIEWED = "unreviewed"
"""A clip's `review` while its label is a guess (a device's report) that a person has not confirmed."""


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
        CheckConstraint(f"review IN ('{UNREVIEWED}')", name="review"),
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
    # Null: a clip whose label a person gave or confirmed. "unreviewed": never trained on, never counted as ready.
    review: Mapped[str | None] = mapped_column(String(16))
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


PRECISIONS = ("fp32", "int8")
DEPLOYMENT_ACTIONS = ("created", "promoted", "rolled_back", "updated")


class Deployment(Base):
    """A named pointer at one succeeded train job's model, which devices follow; `version` counts its changes."""

    __tablename__ = "deployments"
    __table_args__ = (CheckConstraint(f"precision IN {PRECISIONS!r}", name="precision"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    # No foreign key, as for evaluations: what a device runs must not vanish with a job row.
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # Null: the job's calibrated threshold.
    threshold: Mapped[float | None] = mapped_column(Float)
    precision: Mapped[str] = mapped_column(String(8), default="fp32")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DeploymentHistory(Base):
    """One version of a deployment: what it pointed at, who changed it and how."""

    __tablename__ = "deployment_history"
    __table_args__ = (
        # Two changes at the same moment cannot both make version N + 1.
        UniqueConstraint("deployment_id", "version"),
        CheckConstraint(f"action IN {DEPLOYMENT_ACTIONS!r}", name="action"),
        CheckConstraint(f"precision IN {PRECISIONS!r}", name="precision"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    threshold: Mapped[float | None] = mapped_column(Float)
    precision: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Device(Base):
    """A device that follows one deployment with its own token (only the token's sha256 is kept)."""

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_deployment", "deployment_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token_hint: Mapped[str] = mapped_column(String(8))
    # The consent setting: audio a device sends while this is off is dropped unread.
    report_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    running_version: Mapped[int | None] = mapped_column(Integer)
    running_sha256: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detections: Mapped[int] = mapped_column(Integer, default=0)
    near_misses: Mapped[int] = mapped_column(Integer, default=0)


REPORT_KINDS = ("detection", "near_miss")


class DeviceReport(Base):
    """One detection or near miss a device reported; kept a day or two for rates (last 24 h, near misses an hour)."""

    __tablename__ = "device_reports"
    __table_args__ = (
        CheckConstraint(f"kind IN {REPORT_KINDS!r}", name="kind"),
        Index("ix_device_reports_device_kind_received", "device_id", "kind", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    # The device's own clock, as sent; rates use received_at, which a wrong device clock cannot skew.
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    model_sha256: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    clip_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
