"""Request and response bodies for training jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec


class TrainRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Start training a dataset; `preset` (a name from GET /presets) and `config_overrides` change the defaults."""

    dataset: str
    config_overrides: dict[str, Any] | None = None
    preset: str | None = None


class Preset(msgspec.Struct):
    """A named bundle of training config that POST /train takes as `preset`."""

    name: str
    description: str
    source: Literal["built-in", "environment"]
    """`built-in`, or `environment` for one that WAKE_TRAINING_PRESETS adds or replaces."""
    config: dict[str, Any]
    """The whole config a job with this preset and no overrides trains with."""


class SynthesizeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Synthesize clips (espeak-ng, Pico, Piper voices): `count` positives of the phrase, near misses and noise."""

    phrase: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    """The phrase to speak; the dataset's `wake_phrase` when omitted."""
    count: Annotated[int, msgspec.Meta(ge=1, le=5000)]
    language: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] = "en"
    """A language code of GET /synthesis/languages, e.g. "en", "en-us", "de"."""
    negatives: Annotated[int, msgspec.Meta(ge=0, le=10000)] | None = None
    noise: Annotated[int, msgspec.Meta(ge=0, le=1000)] | None = None
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] = 0
    voices: (
        Annotated[
            list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]], msgspec.Meta(min_length=1, max_length=64)
        ]
        | None
    ) = None
    """Voices to speak with: espeak-ng accents as named, Pico and Piper voices with a prefix, e.g. ["en-us",
    "pico:en-GB", "piper:en_US-joe-medium"]; all of the language's when omitted."""
    engines: Annotated[list[Literal["espeak", "pico", "piper"]], msgspec.Meta(min_length=1)] | None = None
    """Engines that take turns clip by clip, "espeak", "pico" and "piper" (the voice files in the server's Piper
    voices folder); when omitted, the engines `voices` names, else every engine with a voice for the language."""


class EvaluateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Score a finished model on a test dataset: its positives clip by clip, its negatives and noise as one stream."""

    dataset: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Artifact(msgspec.Struct):
    """One exported file of a succeeded job."""

    name: str
    size: int
    sha256: str
    url: str


class Job(msgspec.Struct):
    """A training job and how far it got."""

    id: uuid.UUID
    dataset: str
    kind: str
    status: str
    preset: str | None
    config: dict[str, Any]
    clip_count: int
    snapshot_sha256: str
    attempts: int
    cancel_requested: bool
    error: str | None
    worker_hostname: str | None
    progress: dict[str, Any]
    metrics: dict[str, Any]
    artifacts: list[Artifact]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    events_url: str
    logs_url: str


class JobPage(msgspec.Struct):
    """A page of jobs, newest first."""

    items: list[Job]
    total: int
    limit: int
    offset: int


class LogEntry(msgspec.Struct):
    """One structured log line of a job."""

    seq: int
    ts: datetime
    level: str
    message: str


class LogPage(msgspec.Struct):
    """Log entries after a sequence number; pass `next_after` as `after` for the next page."""

    items: list[LogEntry]
    next_after: int
