"""Clips as training data: loading, fitting to the window, the validation split and class-balanced batches."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from shared.db.models import USER_SOURCES
from worker.training.features import SAMPLE_RATE

LABEL_VALUES = {"positive": 1, "negative": 0, "noise": 0}


def label_value(label: str) -> int:
    """1 for a wake-word clip, 0 for everything it must not fire on; ValueError for an unknown label."""
    try:
        return LABEL_VALUES[label]
    except KeyError:
        raise ValueError(f"unknown clip label {label!r}; expected one of: {', '.join(LABEL_VALUES)}") from None


def load_audio(path: Path) -> np.ndarray:
    """A clip's samples as float32 mono at 16 kHz; ValueError if the file has another rate."""
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise ValueError(f"{path} is {rate} Hz; clips must be normalized to {SAMPLE_RATE} Hz before training")
    # Ingestion stores mono, but a stray stereo file should not break a job that can still use it.
    return samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]


def fit_window(audio: np.ndarray, samples: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Crop or zero-pad to exactly `samples`: at a random offset when rng is given (training), centred otherwise."""
    slack = abs(audio.size - samples)
    offset = int(rng.integers(0, slack + 1)) if rng is not None else slack // 2
    if audio.size >= samples:
        return audio[offset : offset + samples]
    out = np.zeros(samples, dtype=np.float32)
    out[offset : offset + audio.size] = audio
    return out


def stack_windows(
    clips: list[np.ndarray], indices: np.ndarray, samples: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The chosen clips fitted to the window, as one float32 [len(indices), samples] array."""
    if len(indices) == 0:
        return np.zeros((0, samples), dtype=np.float32)
    return np.stack([fit_window(clips[i], samples, rng) for i in indices]).astype(np.float32, copy=False)


@dataclass(frozen=True)
class ValidationSplit:
    """Which clips train and which validate, and a line for the job log saying how they were split."""

    train: np.ndarray
    """Sorted clip indices for training."""
    val: np.ndarray
    """Sorted clip indices held out for validation."""
    by_speaker: bool
    """True when whole speakers were held out; False for a random split by clip (no clip names its speaker)."""
    message: str
    """What the split did, for hooks.log."""
    level: str = "info"
    """The hooks.log level: "warning" when speakers made it impossible to hold out a clip of some class."""


MIN_USER_CLIPS_TO_SHARE = 4
"""A user's speaker with at least this many clips is split clip by clip, so validation hears that voice too."""


def split_clips(
    labels: np.ndarray,
    speakers: Sequence[str | None] | None,
    rng: np.random.Generator,
    fraction: float = 0.2,
    *,
    sources: Sequence[str | None] | None = None,
    candidates: int = 64,
) -> ValidationSplit:
    """Hold out about `fraction` of each class, keeping every speaker on one side; by clip when no speaker is known.

    The user's own speakers (clips whose `sources` entry is a recording or an upload) are the exception: a user who
    records 20 takes wants validation to say how the model does on their voice, so a speaker with enough of them is
    split clip by clip and appears on both sides. Synthetic voices stay whole, so validation still hears new voices.
    """
    labels = np.asarray(labels)
    names = _speaker_names(speakers, labels.size)
    shared = _shared_user_speakers(names, sources, labels.size)
    names = [None if name in shared else name for name in names]
    everything = np.arange(labels.size)
    if all(name is None for name in names):
        train, val = _split_by_clip(labels, everything, rng, fraction)
        message = "validation split by clip at random: " + (
            f"your speakers {', '.join(sorted(shared))} on both sides" if shared else "no clip names its speaker"
        )
        return ValidationSplit(train=train, val=val, by_speaker=False, message=message)

    known = np.array([name is not None for name in names])
    _, unknown_val = _split_by_clip(labels, everything[~known], rng, fraction)
    # sorted(), not set order: string hashing is salted per process and the split must follow the seed alone.
    speaker_ids = sorted({name for name in names if name is not None})
    speaker_index = {name: i for i, name in enumerate(speaker_ids)}
    clip_speaker = np.array([speaker_index[name] if name is not None else -1 for name in names])
    # counts[s, c]: clips of speaker s in class c (column 0 negative/noise, 1 positive).
    counts = np.zeros((len(speaker_ids), 2))
    np.add.at(counts, (clip_speaker[known], labels[known]), 1)
    totals = np.bincount(labels, minlength=2)[:2].astype(float)
    held_unknown = np.bincount(labels[unknown_val], minlength=2)[:2].astype(float)
    held_speakers = _choose_speakers(counts, totals, held_unknown, rng, fraction, candidates)

    val_known = everything[known & np.isin(clip_speaker, held_speakers)]
    val = np.sort(np.concatenate([val_known, unknown_val]))
    train = np.setdiff1d(everything, val)
    message = (
        f"validation split by speaker: {held_speakers.size} of {len(speaker_ids)} speakers held out "
        f"({val_known.size} clips), none on both sides"
    )
    if (~known).any():
        message += f"; {int((~known).sum())} clips without a speaker split by clip at random"
    if shared:
        message += f" (your speakers {', '.join(sorted(shared))} among them, so they are on both sides)"
    missing = [
        name
        for value, name in ((1, "positive"), (0, "negative/noise"))
        if (labels == value).any() and not (labels[val] == value).any()
    ]
    level = "info"
    if val.size == 0 and labels.size:
        level = "warning"
        message += "; nothing held out: any held-out clip would put its speaker on both sides or empty a class"
    elif missing:
        level = "warning"
        message += (
            f"; validation has no {' or '.join(missing)} clip: holding one out would put a speaker on both sides "
            "or leave training without that class"
        )
    return ValidationSplit(train=train, val=val, by_speaker=True, message=message, level=level)


def split_validation(
    labels: np.ndarray,
    rng: np.random.Generator,
    fraction: float = 0.2,
    *,
    speakers: Sequence[str | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices for training and for validation, holding out about `fraction` of each class (see split_clips)."""
    split = split_clips(labels, speakers, rng, fraction)
    return split.train, split.val


def _shared_user_speakers(names: list[str | None], sources: Sequence[str | None] | None, count: int) -> set[str]:
    """The user's speakers with enough clips to be split clip by clip."""
    if sources is None:
        return set()
    if len(sources) != count:
        raise ValueError(f"got {len(sources)} sources for {count} clips; give one (or None) per clip")
    clips: dict[str, int] = {}
    for name, source in zip(names, sources, strict=True):
        if name is not None and source in USER_SOURCES:
            clips[name] = clips.get(name, 0) + 1
    # A name shared with synthetic clips is still the user's: all its clips go together.
    return {name for name, n in clips.items() if n >= MIN_USER_CLIPS_TO_SHARE}


def _speaker_names(speakers: Sequence[str | None] | None, count: int) -> list[str | None]:
    """One name or None per clip; a blank name counts as unknown."""
    if speakers is None:
        return [None] * count
    if len(speakers) != count:
        raise ValueError(f"got {len(speakers)} speakers for {count} clips; give one (or None) per clip")
    return [(name.strip() or None) if isinstance(name, str) else None for name in speakers]


def _split_by_clip(
    labels: np.ndarray, indices: np.ndarray, rng: np.random.Generator, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """A random split of these clips, class by class."""
    # At least one clip of a class with two or more is held out, and never a class's last one, so that validation
    # has both classes when it can and training always keeps both.
    train_parts, val_parts = [indices[:0]], [indices[:0]]
    for value in (1, 0):
        members = rng.permutation(indices[labels[indices] == value])
        held = 0 if members.size < 2 else min(members.size - 1, max(1, round(fraction * members.size)))
        val_parts.append(members[:held])
        train_parts.append(members[held:])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))


def _choose_speakers(
    counts: np.ndarray,
    totals: np.ndarray,
    held_unknown: np.ndarray,
    rng: np.random.Generator,
    fraction: float,
    candidates: int,
) -> np.ndarray:
    """The speakers to hold out: the best prefix of several random speaker orders."""
    # Speakers are indivisible, so no exact per-class fraction exists in general. Each prefix of a random order is
    # a candidate, scored by (in order of weight) training keeping every class, validation having every class, and
    # closeness of each class's held-out share to `fraction`; strict < keeps the first best, so the seed decides.
    present = totals > 0
    best_cost, best = np.inf, np.zeros(0, dtype=np.int64)
    for _ in range(candidates):
        order = rng.permutation(counts.shape[0])
        held = np.vstack([np.zeros((1, 2)), np.cumsum(counts[order], axis=0)]) + held_unknown
        cost = (
            1000.0 * ((totals - held == 0) & present).sum(axis=1)
            + 100.0 * ((held == 0) & present).sum(axis=1)
            + (np.abs(held - fraction * totals) / np.maximum(totals, 1)).sum(axis=1)
        )
        k = int(np.argmin(cost))
        if cost[k] < best_cost:
            best_cost, best = cost[k], np.sort(order[:k])
    return best


def user_clips(sources: Sequence[str | None], speakers: Sequence[str | None]) -> np.ndarray:
    """Per clip, True for the user's own: recorded or uploaded, with a speaker named."""
    return np.array(
        [
            source in USER_SOURCES and isinstance(speaker, str) and bool(speaker.strip())
            for source, speaker in zip(sources, speakers, strict=True)
        ],
        dtype=bool,
    )


class UserWeighting(NamedTuple):
    """How much the user's own clips count in the batches, and why not more when they must not."""

    weight: float
    share: float
    warning: str | None


def user_weighting(
    user: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, *, weight: float, share: float
) -> UserWeighting:
    """The configured weight and share, or none when the user's training clips all sit on one side.

    Weighed up on one side only, they teach the model the user's voice and room as that side: bench/personalise.py
    measured 141-569 false wakes an hour on natural audio with positive-only takes weighed 4x, 0-1 without."""
    mine = labels[train_idx][user[train_idx]]
    positives, negatives = int((mine == 1).sum()), int((mine == 0).sum())
    if (positives and negatives) or not mine.size or (weight == 1 and share == 0):
        return UserWeighting(weight, share, None)
    side, other = (
        ("positive", "other sentences and your room's background") if positives else ("negative", "the phrase")
    )
    return UserWeighting(
        1.0,
        0.0,
        f"your own clips in training are all {side}: they count like any other clip, because weighed up on one side "
        f"they teach the model your voice and room instead of the phrase; record {other} too (the dashboard's "
        "guided recording does) for them to count more",
    )


class BalancedSampler:
    """Batches drawn with replacement, half positives and half negatives (the odd one's class by coin flip).

    The user's own clips (`user`, a mask over all clips) are drawn `user_weight` times as often as the others of
    their class, and fill at least `user_share` of each class's rows of every batch when the class has any.
    """

    def __init__(
        self,
        indices: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        rng: np.random.Generator,
        *,
        user: np.ndarray | None = None,
        user_weight: float = 1.0,
        user_share: float = 0.0,
    ) -> None:
        self.positives = indices[labels[indices] == 1]
        self.negatives = indices[labels[indices] == 0]
        if self.positives.size == 0 or self.negatives.size == 0:
            raise ValueError(
                f"training needs positive and negative clips; got {self.positives.size} positive and "
                f"{self.negatives.size} negative/noise"
            )
        self.batch_size = batch_size
        self.rng = rng
        self.user_share = user_share
        mask = np.zeros(labels.size, dtype=bool) if user is None else np.asarray(user, dtype=bool)
        self.classes = [_ClassDraw(members, mask[members], user_weight) for members in (self.positives, self.negatives)]

    @property
    def user_positives(self) -> np.ndarray:
        """The user's own positive clips among the training ones."""
        return self.classes[0].user

    @property
    def user_negatives(self) -> np.ndarray:
        """The user's own negative and noise clips among the training ones."""
        return self.classes[1].user

    def draw(self) -> np.ndarray:
        """The clip indices of the next batch."""
        n_pos = self.batch_size // 2 + int(self.batch_size % 2 and self.rng.random() < 0.5)
        positives, negatives = self.classes
        return np.concatenate(
            [
                positives.draw(n_pos, self.user_share, self.rng),
                negatives.draw(self.batch_size - n_pos, self.user_share, self.rng),
            ]
        )


class _ClassDraw:
    """One class's clips and how to draw `count` of them."""

    def __init__(self, members: np.ndarray, is_user: np.ndarray, user_weight: float) -> None:
        self.members = members
        self.user = members[is_user]
        self.p: np.ndarray | None = None
        if self.user.size:
            weights = np.where(is_user, user_weight, 1.0)
            self.p = weights / weights.sum()

    def draw(self, count: int, user_share: float, rng: np.random.Generator) -> np.ndarray:
        if self.p is None:
            # Without the user's clips the draw is what it always was, so runs on synthetic data keep their batches.
            return rng.choice(self.members, size=count)
        kept = min(count, math.ceil(user_share * count - 1e-9))
        return np.concatenate([rng.choice(self.user, size=kept), rng.choice(self.members, size=count - kept, p=self.p)])
