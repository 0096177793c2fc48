"""Clips as training data: loading, fitting to the window, the validation split and class-balanced batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

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


def split_validation(
    labels: np.ndarray, rng: np.random.Generator, fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Indices for training and for validation, holding out about `fraction` of each class."""
    # At least one clip of a class with two or more is held out, and never a class's last one, so that validation
    # has both classes when it can and training always keeps both.
    train_parts, val_parts = [], []
    for value in (1, 0):
        members = rng.permutation(np.flatnonzero(labels == value))
        held = 0 if members.size < 2 else min(members.size - 1, max(1, round(fraction * members.size)))
        val_parts.append(members[:held])
        train_parts.append(members[held:])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))


class BalancedSampler:
    """Batches drawn with replacement, half positives and half negatives (the odd one's class by coin flip)."""

    def __init__(self, indices: np.ndarray, labels: np.ndarray, batch_size: int, rng: np.random.Generator) -> None:
        self.positives = indices[labels[indices] == 1]
        self.negatives = indices[labels[indices] == 0]
        if self.positives.size == 0 or self.negatives.size == 0:
            raise ValueError(
                f"training needs positive and negative clips; got {self.positives.size} positive and "
                f"{self.negatives.size} negative/noise"
            )
        self.batch_size = batch_size
        self.rng = rng

    def draw(self) -> np.ndarray:
        """The clip indices of the next batch."""
        n_pos = self.batch_size // 2 + int(self.batch_size % 2 and self.rng.random() < 0.5)
        return np.concatenate(
            [
                self.rng.choice(self.positives, size=n_pos),
                self.rng.choice(self.negatives, size=self.batch_size - n_pos),
            ]
        )
