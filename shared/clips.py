"""A clip's row made from normalized audio, and its public fields: one definition for the API and the worker."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from shared.audio import TARGET_SAMPLE_RATE, NormalizedClip
from shared.clip_quality import ClipQuality
from shared.db.base import utcnow
from shared.db.models import Clip


def new_clip(
    dataset_id: uuid.UUID,
    clip: NormalizedClip,
    *,
    label: str,
    speaker: str | None,
    notes: str | None,
    source: str,
    filename: str | None,
    position: int = 0,
) -> Clip:
    """The row of a clip about to be stored (its id names its file); `position` is its place in its batch."""
    return Clip(
        id=uuid.uuid4(),
        # Listings are oldest first and ids are random: a batch's clips get distinct times in the order they came.
        created_at=utcnow() + timedelta(microseconds=position),
        dataset_id=dataset_id,
        label=label,
        speaker=speaker,
        notes=notes,
        source=source,
        original_filename=filename,
        original_format=clip.original_format,
        original_sample_rate=clip.original_sample_rate,
        original_channels=clip.original_channels,
        duration_s=clip.duration_s,
        loudness_dbfs=clip.loudness_dbfs,
        sha256=clip.sha256,
        size_bytes=len(clip.wav_bytes),
        fingerprint=clip.fingerprint,
        **quality_columns(clip.quality),
    )


def quality_columns(quality: ClipQuality) -> dict[str, Any]:
    """A clip's QA measurements as its row's columns (its RMS level is `loudness_dbfs`, set from the same audio)."""
    return {
        "peak_dbfs": quality.peak_dbfs,
        "clipping_ratio": quality.clipping_ratio,
        "leading_silence_s": quality.leading_silence_s,
        "trailing_silence_s": quality.trailing_silence_s,
        "activity_share": quality.activity_share,
        "active_at_edge": quality.active_at_edge,
    }


def clip_fields(clip: Clip, dataset_name: str) -> dict[str, Any]:
    """A clip as the API shows it (and as `dataset.clip_*` events carry it)."""
    return {
        "id": clip.id,
        "dataset": dataset_name,
        "label": clip.label,
        "speaker": clip.speaker,
        "notes": clip.notes,
        "source": clip.source,
        "original_filename": clip.original_filename,
        "original_format": clip.original_format,
        "original_sample_rate": clip.original_sample_rate,
        "original_channels": clip.original_channels,
        "duration_s": clip.duration_s,
        "loudness_dbfs": clip.loudness_dbfs,
        "sample_rate": TARGET_SAMPLE_RATE,
        "sha256": clip.sha256,
        "size_bytes": clip.size_bytes,
        "created_at": clip.created_at,
        "updated_at": clip.updated_at,
        "deleted": clip.deleted,
        "deleted_at": clip.deleted_at,
        "audio_url": clip_audio_url(dataset_name, clip.id),
        "review": clip.review,
    }


def clip_audio_url(dataset_name: str, clip_id: uuid.UUID) -> str:
    """Where the API serves a clip's audio."""
    return f"/datasets/{dataset_name}/recordings/{clip_id}/audio"
