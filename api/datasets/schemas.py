"""Request and response bodies for datasets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Description = Annotated[str, msgspec.Meta(max_length=2000)]
WakePhrase = Annotated[str, msgspec.Meta(max_length=200)]


class DatasetCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new dataset."""

    name: str
    description: Description | None = None
    wake_phrase: WakePhrase | None = None


class DatasetUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Fields of a dataset a user may change; absent fields stay as they are, null (or blank text) clears one."""

    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    wake_phrase: WakePhrase | msgspec.UnsetType | None = msgspec.UNSET


class LabelStats(msgspec.Struct):
    """How many active clips and how many seconds of audio."""

    clips: int = 0
    seconds: float = 0.0


class Readiness(msgspec.Struct):
    """Whether the dataset has enough clips to train, and what is missing."""

    ready: bool
    positive_clips: int
    negative_clips: int
    min_positive_clips: int
    min_negative_clips: int
    missing: list[str]


class Dataset(msgspec.Struct):
    """A dataset with its active clip counts per label."""

    id: uuid.UUID
    name: str
    description: str | None
    wake_phrase: str | None
    created_at: datetime
    updated_at: datetime
    clip_counts: dict[str, int]
    deleted_clips: int
    total_seconds: float
    training: Readiness
    warnings: list[str] = msgspec.field(default_factory=list)
    """What may make a model trained on these clips learn the wrong thing, in words."""
    unreviewed_clips: int = 0
    """Active clips a device reported that wait for a person's verdict; not in `clip_counts`, never trained on."""


class SpeakerStats(msgspec.Struct):
    """One speaker's active clips; `speaker` is null for clips with no speaker given."""

    speaker: str | None
    clips: int
    seconds: float
    by_label: dict[str, LabelStats]


class DatasetMetrics(msgspec.Struct):
    """Clip counts and seconds of active clips, in total, by label and by speaker."""

    dataset: str
    total: LabelStats
    by_label: dict[str, LabelStats]
    by_speaker: list[SpeakerStats]
    deleted: LabelStats
    training: Readiness
    unreviewed: LabelStats = msgspec.field(default_factory=LabelStats)
    """Active clips waiting for review: counted nowhere else, and not toward readiness."""
