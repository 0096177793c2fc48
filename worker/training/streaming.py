"""Streaming evaluation of a wake-word model: scores over a long stream, false accepts per hour, FRR, thresholds."""

# Pure numpy on purpose: worker/detect.py runs this on edge devices that have onnxruntime but no torch.

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypedDict

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SAMPLE_RATE = 16_000
# Thresholds of the default grid (0, 0.005, …, 1) and the most distinct scores added to it for an exact curve.
GRID_POINTS = 201
MAX_EXACT_SCORES = 2_000
# The tail fit of tail_threshold: its share of the negative windows, and the fewest windows it fits.
TAIL_FRACTION = 0.1
MIN_TAIL = 20
MIN_TAIL_WINDOWS = 200

ScoreWindows = Callable[[np.ndarray], np.ndarray]
"""Scores a float32 batch of windows [n, window] as n probabilities."""


class CurvePoint(TypedDict):
    """One operating point of the detection error curve."""

    threshold: float
    frr: float
    fa_per_hour: float


class Calibration(TypedDict):
    """The threshold chosen for a target false-accept rate and what it gives."""

    threshold: float
    frr: float
    fa_per_hour: float
    target_fa_per_hour: float
    met_target: bool


def window_count(samples: int, *, window: int, hop: int) -> int:
    """How many window positions stream_scores scores in `samples` samples: the last partial one included."""
    if samples <= 0:
        return 0
    return 1 + math.ceil(max(0, samples - window) / hop)


def stream_scores(
    score_windows: ScoreWindows, audio: np.ndarray, *, window: int, hop: int, chunk: int = 256
) -> np.ndarray:
    """One score per window position, windows of `window` samples every `hop`, scored `chunk` windows at a time."""
    _check_positive(window=window, hop=hop, chunk=chunk)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be one mono stream [samples], got shape {audio.shape}")
    count = window_count(audio.size, window=window, hop=hop)
    if count == 0:
        return np.zeros(0, dtype=np.float32)
    # Zero padding so that the stream's last samples are scored rather than dropped with a partial window.
    padded = np.zeros((count - 1) * hop + window, dtype=np.float32)
    padded[: audio.size] = audio
    # A strided view: the windows overlap in memory, only one chunk is ever copied out.
    windows = sliding_window_view(padded, window)[::hop]
    return _score_in_chunks(score_windows, windows, chunk)


def clip_max_scores(
    score_windows: ScoreWindows, clips: Sequence[np.ndarray], *, window: int, hop: int, chunk: int = 256
) -> np.ndarray:
    """Each clip's highest score over its window positions (as stream_scores would slide them), for the FRR."""
    _check_positive(window=window, hop=hop, chunk=chunk)
    counts = [window_count(np.asarray(clip).size, window=window, hop=hop) for clip in clips]
    if any(count == 0 for count in counts):
        raise ValueError("every clip needs at least one sample")
    if not counts:
        return np.zeros(0, dtype=np.float32)
    # The windows of all clips go through the model together: short clips one at a time would be batches of one.
    windows = np.zeros((sum(counts), window), dtype=np.float32)
    row = 0
    for clip, count in zip(clips, counts, strict=True):
        clip = np.asarray(clip, dtype=np.float32)
        for i in range(count):
            part = clip[i * hop : i * hop + window]
            windows[row, : part.size] = part
            row += 1
    scores = _score_in_chunks(score_windows, windows, chunk)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.maximum.reduceat(scores, starts)


def refractory_hops(*, hop_s: float, refractory_s: float) -> int:
    """The refractory period in hops: a detection this many hops or more after the last one counts again."""
    if hop_s <= 0 or refractory_s < 0:
        raise ValueError(f"hop_s must be > 0 and refractory_s >= 0, got {hop_s} and {refractory_s}")
    # The epsilon keeps 1.0 / 0.1 = 10.000000000000002 at 10 hops, not 11.
    return max(1, math.ceil(refractory_s / hop_s - 1e-9))


def count_detections(scores: np.ndarray, threshold: float, *, hop_s: float, refractory_s: float) -> list[int]:
    """Indices of detections: scores ≥ threshold, those within refractory_s after a detection left out."""
    gap = refractory_hops(hop_s=hop_s, refractory_s=refractory_s)
    # float64: compared as float32, a threshold just above a float32 score would round down onto it and count it.
    hits = np.flatnonzero(np.asarray(scores, dtype=np.float64) >= threshold)
    if gap == 1:
        return hits.tolist()
    detections: list[int] = []
    position = 0
    # Jump from one detection to the first hit past its refractory period: cost grows with detections, not hits.
    while position < hits.size:
        index = int(hits[position])
        detections.append(index)
        position = int(np.searchsorted(hits, index + gap, side="left"))
    return detections


def false_accepts_per_hour(
    scores: np.ndarray, threshold: float, *, hop_s: float, refractory_s: float, duration_s: float
) -> float:
    """Detections in a stream of negatives (no wake word in it), per hour of its `duration_s`."""
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    detections = count_detections(scores, threshold, hop_s=hop_s, refractory_s=refractory_s)
    return len(detections) * 3600.0 / duration_s


def false_reject_rate(positive_scores: np.ndarray, threshold: float) -> float:
    """The fraction of positive clips whose highest score is below the threshold (NaN with no clips)."""
    scores = np.asarray(positive_scores, dtype=np.float64)
    if scores.size == 0:
        return math.nan
    return float(np.mean(scores < threshold))


def default_thresholds(positive_scores: np.ndarray, negative_stream_scores: np.ndarray) -> np.ndarray:
    """A grid over [0, 1], the distinct scores when there are few, and one threshold above every score."""
    positives = np.asarray(positive_scores, dtype=np.float64).ravel()
    negatives = np.asarray(negative_stream_scores, dtype=np.float64).ravel()
    parts = [np.linspace(0.0, 1.0, GRID_POINTS)]
    distinct = np.unique(np.concatenate([positives, negatives]))
    distinct = distinct[np.isfinite(distinct)]
    if 0 < distinct.size <= MAX_EXACT_SCORES:
        # The FA count drops just above a negative's score, so those points are where the best thresholds are.
        parts += [distinct, np.nextafter(distinct, np.inf)]
    if distinct.size:
        parts.append(np.nextafter(distinct[-1:], np.inf))
    return np.unique(np.concatenate(parts))


def detection_error_curve(
    positive_scores: np.ndarray,
    negative_stream_scores: np.ndarray,
    *,
    hop_s: float,
    refractory_s: float,
    duration_s: float,
    thresholds: Sequence[float] | np.ndarray | None = None,
) -> list[CurvePoint]:
    """FRR and FA/h at each threshold, ascending; FA/h never rises with the threshold."""
    # Monotone by construction: counting greedily from the earliest hit is the largest set of hits a refractory
    # period apart, and a lower threshold's hits are a superset of a higher one's.
    negatives = np.asarray(negative_stream_scores, dtype=np.float64)
    grid = default_thresholds(positive_scores, negatives) if thresholds is None else np.unique(thresholds)
    return [
        CurvePoint(
            threshold=float(threshold),
            frr=false_reject_rate(positive_scores, float(threshold)),
            fa_per_hour=false_accepts_per_hour(
                negatives, float(threshold), hop_s=hop_s, refractory_s=refractory_s, duration_s=duration_s
            ),
        )
        for threshold in grid
    ]


def calibrate_threshold(curve: Sequence[CurvePoint], target_fa_per_hour: float = 0.5) -> Calibration:
    """The lowest threshold with FA/h ≤ target (the best FRR there); the highest, `met_target` False, if none."""
    if not curve:
        raise ValueError("the curve has no points")
    points = sorted(curve, key=lambda point: point["threshold"])
    meeting = [point for point in points if point["fa_per_hour"] <= target_fa_per_hour]
    chosen = meeting[0] if meeting else points[-1]
    return Calibration(
        threshold=chosen["threshold"],
        frr=chosen["frr"],
        fa_per_hour=chosen["fa_per_hour"],
        target_fa_per_hour=float(target_fa_per_hour),
        met_target=bool(meeting),
    )


class TailEstimate(TypedDict):
    """A threshold for a false-accept rate that the negative audio is too short to show, from its score tail."""

    threshold: float
    tail_windows: int
    tail_start_logit: float
    tail_scale_logit: float


def tail_threshold(
    negative_stream_scores: np.ndarray,
    target_fa_per_hour: float,
    *,
    hop_s: float,
    tail_fraction: float = TAIL_FRACTION,
    min_windows: int = MIN_TAIL_WINDOWS,
) -> TailEstimate | None:
    """The threshold whose chance of being reached by a negative window is target / (windows per hour).

    Half an hour of negatives shows nothing about 0.5 false accepts an hour: zero false accepts over a few minutes
    of validation audio says only that the threshold is above the loudest window heard. The top `tail_fraction` of
    the negative windows' logits is fitted with an exponential tail (the maximum-likelihood scale is the mean excess
    over the tail's start), which is extrapolated to the rate the target asks for. Counting windows, not
    detections, errs high: one false accept usually lifts several neighbouring windows. None with fewer than
    `min_windows` windows.
    """
    scores = np.asarray(negative_stream_scores, dtype=np.float64).ravel()
    if scores.size < min_windows:
        return None
    clipped = np.clip(scores, 1e-7, 1 - 1e-7)
    logits = np.sort(np.log(clipped / (1 - clipped)))
    k = max(MIN_TAIL, math.ceil(tail_fraction * logits.size))
    tail = logits[-k:]
    start = float(tail[0])
    scale = max(float(np.mean(tail - start)), 1e-3)
    per_window = target_fa_per_hour * hop_s / 3600.0
    logit = start + scale * math.log((k / logits.size) / per_window)
    return TailEstimate(
        threshold=1.0 / (1.0 + math.exp(-logit)),
        tail_windows=k,
        tail_start_logit=start,
        tail_scale_logit=scale,
    )


def expected_fa_per_hour(estimate: TailEstimate, threshold: float, windows: int, *, hop_s: float) -> float:
    """What the fitted tail predicts a threshold gives, in negative windows reaching it per hour."""
    clipped = min(max(threshold, 1e-7), 1 - 1e-7)
    logit = math.log(clipped / (1 - clipped))
    share = estimate["tail_windows"] / windows
    excess = max(0.0, logit - estimate["tail_start_logit"])
    return share * math.exp(-excess / estimate["tail_scale_logit"]) * 3600.0 / hop_s


def _score_in_chunks(score_windows: ScoreWindows, windows: np.ndarray, chunk: int) -> np.ndarray:
    parts = []
    for start in range(0, len(windows), chunk):
        batch = np.ascontiguousarray(windows[start : start + chunk], dtype=np.float32)
        scores = np.asarray(score_windows(batch), dtype=np.float32).reshape(-1)
        if scores.size != len(batch):
            raise ValueError(f"score_windows returned {scores.size} scores for {len(batch)} windows")
        parts.append(scores)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")
