"""Request and response bodies for recordings (clips)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

Speaker = Annotated[str, msgspec.Meta(max_length=128)]
Notes = Annotated[str, msgspec.Meta(max_length=2000)]


class Clip(msgspec.Struct):
    """One stored clip: 16 kHz mono PCM16, with what was known of the original upload."""

    id: uuid.UUID
    dataset: str
    label: str
    speaker: str | None
    notes: str | None
    source: str
    original_filename: str | None
    original_format: str
    original_sample_rate: int
    original_channels: int
    duration_s: float
    loudness_dbfs: float
    sample_rate: int
    sha256: str
    size_bytes: int
    created_at: datetime
    updated_at: datetime
    deleted: bool
    deleted_at: datetime | None
    audio_url: str
    review: str | None = None
    """"unreviewed" while the label is a device's guess: never trained on until a person gives a verdict."""


class ClipUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Fields of a clip a user may change; absent fields stay as they are, null clears speaker or notes."""

    label: str | msgspec.UnsetType = msgspec.UNSET
    speaker: Speaker | msgspec.UnsetType | None = msgspec.UNSET
    notes: Notes | msgspec.UnsetType | None = msgspec.UNSET


class ClipReview(msgspec.Struct, forbid_unknown_fields=True):
    """A person's verdict on an unreviewed clip: its label, or discard (to the trash)."""

    verdict: Literal["positive", "negative", "discard"]


class ClipPage(msgspec.Struct):
    """A page of clips and the total that match the filter."""

    items: list[Clip]
    total: int
    limit: int
    offset: int


class ClipsAdded(msgspec.Struct):
    """The clips an upload stored, in the order the files were sent."""

    clips: list[Clip]


class HistogramBin(msgspec.Struct):
    """Clips whose value lies in [low, high); null `low` or `high` means the bin is open on that side."""

    low: float | None
    high: float | None
    clips: int


class Histogram(msgspec.Struct):
    """Fixed bins (the same for every dataset, so that datasets compare) of one measure."""

    unit: str
    bins: list[HistogramBin]


class GroupQuality(msgspec.Struct):
    """QA figures of the active clips of one speaker or one source."""

    name: str | None
    clips: int
    mean_duration_s: float
    mean_loudness_dbfs: float | None
    flagged: int


class DuplicateOf(msgspec.Struct):
    """The older clip a near duplicate sounds like."""

    id: uuid.UUID
    filename: str | None
    label: str
    audio_url: str


class FlaggedClip(msgspec.Struct):
    """An active clip with at least one QA flag; a `near_duplicate` names the older clip it nearly equals."""

    id: uuid.UUID
    filename: str | None
    label: str
    speaker: str | None
    source: str
    flags: list[str]
    audio_url: str
    duplicate_of: DuplicateOf | None = None


class DatasetQuality(msgspec.Struct):
    """Dataset QA over the active clips: level and duration histograms, per-speaker and per-source figures, and the
    clips that need attention (flags: silent, clipped, too_quiet, cut_at_edge, mostly_silence, near_duplicate)."""

    dataset: str
    clips: int
    flagged_count: int
    duration_histogram: Histogram
    loudness_histogram: Histogram
    by_speaker: list[GroupQuality]
    by_source: list[GroupQuality]
    flagged: list[FlaggedClip]
    unmeasured: int = 0


class RecordingPrompts(msgspec.Struct):
    """What a guided recording session asks the user to say besides the wake phrase; both are stored as negatives."""

    wake_phrase: str | None
    language: str
    sentences: list[str]
    """Everyday sentences that do not hold the wake phrase (English where the language has none)."""
    near_misses: list[str]
    """Phrases that sound like the wake phrase, those as long as it first; empty without a wake phrase."""
