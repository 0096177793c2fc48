"""Negatives cut from the user's own takes: their voice and room without the phrase, so that neither is the cue.

A few takes of the wake phrase are often the only audio in a dataset that is not synthetic, and all of it positive;
weighed up, they teach a model "this voice, this room, this music behind it" instead of the phrase
(bench/personalise.py measured 141-569 false wakes an hour on natural audio that way). Each take yields what it holds
besides the phrase: the room before and after the speech, the phrase's first part and its last part alone (the near
misses "hey" and "…arvis" in the user's voice), the speech reversed and the speech with its pieces shuffled (the
voice's sound, none of the phrase's order). They are training negatives on the side of the split their take is on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worker.training.features import SAMPLE_RATE

FRAME = SAMPLE_RATE // 100  # 10 ms
SPEECH_ABOVE_FLOOR = 0.35
"""A frame is speech when its level is this share of the way from the take's floor to its peak (in dB)."""
MIN_SPEECH_S = 0.25
MIN_SURROUNDINGS_S = 0.3
HEAD_SHARE = 0.45
"""The first part ends, and the last part starts at 1 - this, of the speech: each holds under half of the phrase."""
SHUFFLE_PIECES = 4
KINDS = ("surroundings", "first part", "last part", "reversed", "shuffled")


@dataclass(frozen=True)
class Counterparts:
    """The negatives made from some takes: their audio, and for each, the take it came from and what it is."""

    audio: list[np.ndarray]
    take: np.ndarray
    """Per counterpart, the index of its take among the clips it was made from."""
    kinds: list[str]


def speech_span(take: np.ndarray) -> tuple[int, int] | None:
    """The samples [start, end) from the first to the last speech frame; None when nothing stands out of the floor."""
    frames = take.size // FRAME
    if frames < 3:
        return None
    power = np.mean(np.square(take[: frames * FRAME].reshape(frames, FRAME), dtype=np.float64), axis=1)
    level = 10 * np.log10(np.maximum(power, 1e-12))
    # Percentiles, not the extremes: one click must not become the peak, nor one silent frame the floor.
    floor, peak = np.percentile(level, 10), np.percentile(level, 99)
    if peak - floor < 6.0:
        return None
    loud = np.flatnonzero(level >= floor + SPEECH_ABOVE_FLOOR * (peak - floor))
    start, end = int(loud[0]) * FRAME, (int(loud[-1]) + 1) * FRAME
    return (start, end) if end - start >= MIN_SPEECH_S * SAMPLE_RATE else None


def counterparts_of(take: np.ndarray, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """What one take yields as negatives, by kind; nothing when its speech cannot be found."""
    span = speech_span(take)
    if span is None:
        return []
    start, end = span
    speech = take[start:end]
    before, after = take[:start], take[end:]
    made: list[tuple[str, np.ndarray]] = []
    if before.size + after.size >= MIN_SURROUNDINGS_S * SAMPLE_RATE:
        made.append(("surroundings", np.concatenate([before, after])))
    cut = round(HEAD_SHARE * speech.size)
    made.append(("first part", np.concatenate([before, speech[:cut]])))
    made.append(("last part", np.concatenate([speech[speech.size - cut :], after])))
    made.append(("reversed", np.concatenate([before, speech[::-1], after])))
    pieces = np.array_split(speech, SHUFFLE_PIECES)
    order = rng.permutation(SHUFFLE_PIECES)
    while np.array_equal(order, np.arange(SHUFFLE_PIECES)):
        order = rng.permutation(SHUFFLE_PIECES)
    made.append(("shuffled", np.concatenate([before, *(pieces[i] for i in order), after])))
    return [(kind, audio.astype(np.float32, copy=False)) for kind, audio in made]


def make_counterparts(audio: list[np.ndarray], takes: np.ndarray, rng: np.random.Generator) -> Counterparts:
    """The counterparts of the clips at indices `takes`, in order."""
    made: list[np.ndarray] = []
    origin: list[int] = []
    kinds: list[str] = []
    for index in takes:
        for kind, clip in counterparts_of(audio[int(index)], rng):
            made.append(clip)
            origin.append(int(index))
            kinds.append(kind)
    return Counterparts(made, np.array(origin, dtype=np.int64), kinds)


@dataclass(frozen=True)
class WithCounterparts:
    """A run's clips with the counterparts appended after them, as negatives of the user's, on their take's side."""

    audio: list[np.ndarray]
    labels: np.ndarray
    kinds: list[str]
    """Each clip's label ("positive", "negative", "noise"); a counterpart's is "negative"."""
    user: np.ndarray
    train: np.ndarray
    val: np.ndarray
    made: Counterparts

    def summary(self) -> str:
        """A line for the job's log."""
        count = len(self.made.audio)
        takes = np.unique(self.made.take).size
        by_kind = ", ".join(f"{self.made.kinds.count(kind)} {kind}" for kind in KINDS if kind in self.made.kinds)
        return (
            f"{count} negatives cut from {takes} of your positive takes ({by_kind}): your voice and room without "
            "the phrase, so that neither becomes the cue"
        )


def add_counterparts(
    audio: list[np.ndarray],
    labels: np.ndarray,
    kinds: list[str],
    user: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    rng: np.random.Generator,
) -> WithCounterparts:
    """The clips plus the counterparts of the user's positive takes (train and val indices extended to match)."""
    takes = np.flatnonzero(user & (labels == 1))
    made = make_counterparts(audio, takes, rng)
    first = len(audio)
    added = np.arange(first, first + len(made.audio))
    held = np.isin(made.take, val)
    return WithCounterparts(
        audio=[*audio, *made.audio],
        labels=np.concatenate([labels, np.zeros(added.size, dtype=labels.dtype)]),
        kinds=[*kinds, *(["negative"] * added.size)],
        user=np.concatenate([user, np.ones(added.size, dtype=bool)]),
        train=np.sort(np.concatenate([train, added[~held]])),
        val=np.sort(np.concatenate([val, added[held]])),
        made=made,
    )
