"""Dataset QA: a dataset's clips measured (lazily for clips stored before QA), their flags (near duplicates among
them), and the sums of GET .../quality."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from api.recordings import schemas
from shared import clip_fingerprint
from shared.clip_quality import FLAGS, ClipQuality, measure, quality_flags, read_wav
from shared.clips import clip_audio_url, quality_columns
from shared.db.models import Clip

# Fixed edges: the same bins for every dataset. Wake phrases run 0.5 to 2 s; the level bins are 10 dB wide.
DURATION_EDGES_S = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
LOUDNESS_EDGES_DBFS = (-60.0, -50.0, -40.0, -30.0, -20.0, -10.0)

NEAR_DUPLICATE = "near_duplicate"
ALL_FLAGS = (*FLAGS, NEAR_DUPLICATE)
DUPLICATE_LABELS = ("positive", "negative")
"""Only words are compared: two clips of steady noise (a fan, white noise) always look alike, and are meant to."""


def clip_flags(clip: Clip) -> list[str]:
    """A measured clip's flags under its current label (none for a clip not measured yet)."""
    if clip.peak_dbfs is None:
        return []
    stored = ClipQuality(
        peak_dbfs=clip.peak_dbfs,
        rms_dbfs=clip.loudness_dbfs,
        clipping_ratio=clip.clipping_ratio or 0.0,
        leading_silence_s=clip.leading_silence_s or 0.0,
        trailing_silence_s=clip.trailing_silence_s or 0.0,
        activity_share=clip.activity_share if clip.activity_share is not None else 1.0,
        active_at_edge=bool(clip.active_at_edge),
    )
    return quality_flags(stored, clip.label)


def needs_measuring(clip: Clip) -> bool:
    """Whether a clip was stored before QA measured it, or before its fingerprint (of this version) was made."""
    return clip.peak_dbfs is None or clip_fingerprint.decode(clip.fingerprint) is None


def measure_missing(clips: Sequence[Clip], path_of: Callable[[Clip], Path]) -> int:
    """Measure clips stored before QA from their files, in place (what they lack only); returns how many could not
    be (file missing or unreadable)."""
    missing = 0
    for clip in clips:
        try:
            samples, sample_rate = read_wav(path_of(clip).read_bytes())
            if clip.peak_dbfs is None:
                for column, value in quality_columns(measure(samples, sample_rate)).items():
                    setattr(clip, column, value)
            if clip_fingerprint.decode(clip.fingerprint) is None:
                clip.fingerprint = clip_fingerprint.compute(samples, sample_rate)
        except (OSError, RuntimeError, ValueError):  # missing or damaged on the volume (LibsndfileError: RuntimeError)
            missing += 1
    return missing


def duplicates_of(clips: Sequence[Clip]) -> dict[uuid.UUID, Clip]:
    """Each clip that nearly equals an older one (clips in the order they were stored) → the oldest it equals.

    The newer of two is flagged: deleting the flagged clips keeps one of each, and a positive that sounds like a
    negative (or the reverse) shows its conflict on the one added last.
    """
    fingerprints = [
        clip_fingerprint.decode(clip.fingerprint)
        if clip.label in DUPLICATE_LABELS and "silent" not in clip_flags(clip)
        else None
        for clip in clips
    ]
    pairs = clip_fingerprint.near_duplicates(fingerprints)
    return {clips[newer].id: clips[older] for newer, older in pairs.items()}


def all_flags(clips: Sequence[Clip]) -> dict[uuid.UUID, list[str]]:
    """Every flag of each clip (per-clip ones and near_duplicate among these clips), in store order."""
    duplicates = duplicates_of(clips)
    return {c.id: [*clip_flags(c), *([NEAR_DUPLICATE] if c.id in duplicates else [])] for c in clips}


def summarize(dataset_name: str, clips: Sequence[Clip], unmeasured: int) -> schemas.DatasetQuality:
    """The /quality body for a dataset's active clips."""
    flagged: list[schemas.FlaggedClip] = []
    by_speaker: dict[str | None, list[tuple[Clip, bool]]] = defaultdict(list)
    by_source: dict[str | None, list[tuple[Clip, bool]]] = defaultdict(list)
    duplicates = duplicates_of(clips)
    for clip in clips:
        original = duplicates.get(clip.id)
        found = [*clip_flags(clip), *([NEAR_DUPLICATE] if original is not None else [])]
        if found:
            flagged.append(
                schemas.FlaggedClip(
                    id=clip.id,
                    filename=clip.original_filename,
                    label=clip.label,
                    speaker=clip.speaker,
                    source=clip.source,
                    flags=found,
                    audio_url=clip_audio_url(dataset_name, clip.id),
                    duplicate_of=None if original is None else _original(dataset_name, original),
                )
            )
        by_speaker[clip.speaker].append((clip, bool(found)))
        by_source[clip.source].append((clip, bool(found)))
    return schemas.DatasetQuality(
        dataset=dataset_name,
        clips=len(clips),
        flagged_count=len(flagged),
        duration_histogram=_histogram("s", DURATION_EDGES_S, [c.duration_s for c in clips]),
        loudness_histogram=_histogram("dBFS (RMS)", LOUDNESS_EDGES_DBFS, [c.loudness_dbfs for c in clips]),
        by_speaker=_groups(by_speaker),
        by_source=_groups(by_source),
        flagged=flagged,
        unmeasured=unmeasured,
    )


def _original(dataset_name: str, clip: Clip) -> schemas.DuplicateOf:
    return schemas.DuplicateOf(
        id=clip.id,
        filename=clip.original_filename,
        label=clip.label,
        audio_url=clip_audio_url(dataset_name, clip.id),
    )


def _histogram(unit: str, edges: Sequence[float], values: Sequence[float]) -> schemas.Histogram:
    bounds: list[float | None] = [None, *edges, None]
    bins = [
        schemas.HistogramBin(
            low=low,
            high=high,
            clips=sum(1 for v in values if (low is None or v >= low) and (high is None or v < high)),
        )
        for low, high in itertools.pairwise(bounds)
    ]
    return schemas.Histogram(unit=unit, bins=bins)


def _groups(groups: dict[str | None, list[tuple[Clip, bool]]]) -> list[schemas.GroupQuality]:
    return [
        schemas.GroupQuality(
            name=name,
            clips=len(members),
            mean_duration_s=round(sum(c.duration_s for c, _ in members) / len(members), 3),
            mean_loudness_dbfs=round(sum(c.loudness_dbfs for c, _ in members) / len(members), 2),
            flagged=sum(1 for _, flagged in members if flagged),
        )
        for name, members in sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))
    ]
