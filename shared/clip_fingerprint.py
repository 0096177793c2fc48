"""Near-duplicate QA: a small spectral fingerprint per clip, and the clips of a dataset whose fingerprints match.

A fingerprint is the log energy of 20 mel bands (100-4000 Hz) in 32 time steps spread over the clip's sound (its
silence at either end cut off), normalised to zero mean and unit variance. The same take re-encoded, resampled,
turned up or down, padded, shifted or with faint noise added keeps its fingerprint; another take does not, unless it
says the same words at nearly the same speed and pitch, which teaches the model nothing new either.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

VERSION = 1
"""Stored in each fingerprint: a fingerprint of another version is computed again from the clip's file."""

BANDS = 20
STEPS = 32
LOW_HZ, HIGH_HZ = 100.0, 4000.0
"""Speech's telephone band: lossy codecs and resamplers leave it alone, so a re-encoded copy still matches."""

SPAN_BELOW_PEAK_DB = 20.0
"""The clip's sound spans from the first to the last 10 ms window within 20 dB of its loudest: faint noise before or
after the words does not move where the fingerprint starts."""

FLOOR_BELOW_PEAK_DB = 40.0
"""Band energies more than 40 dB under the loudest are held at that floor: hiss and dither leave the fingerprint."""

SIMILAR = 0.95
"""Two fingerprints correlating at 0.95 or more are near duplicates: copies of one take score 0.97 and more (with
noise 30 dB under the voice), distinct synthetic takes at least 3 % apart in speed mostly below 0.9."""

SPAN_TOLERANCE = 0.03
SPAN_TOLERANCE_S = 0.03
"""Only clips whose sound lasts about as long are compared (3 %, or 30 ms for short clips): a copy lasts as long."""

_RATE = 16_000
_WINDOW = 160  # 10 ms
_FINE_HOP = 16  # 1 ms: where the sound starts, to the millisecond, so that a shifted copy is cut at the same place
_FFT = 512
_HOP = 160
_SCALE = 25.0  # int8 steps per standard deviation: 5 deviations either side fit, in steps of 0.04
_HEADER = struct.Struct("<BH")  # version, span in ms


@dataclass(frozen=True)
class Fingerprint:
    """A decoded fingerprint: the span of sound it covers and its unit-length vector."""

    span_s: float
    vector: np.ndarray


def _mel(hz: float | np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _band_masks() -> list[np.ndarray]:
    """Which FFT bins each mel band sums."""
    mels = np.linspace(_mel(LOW_HZ), _mel(HIGH_HZ), BANDS + 1)
    edges = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(_FFT, 1.0 / _RATE)
    return [(freqs >= low) & (freqs < high) for low, high in itertools.pairwise(edges)]


_BAND_OF_BIN = _band_masks()


def _span(x: np.ndarray) -> tuple[int, int]:
    """First and last sample of the clip's sound."""
    if x.size <= _WINDOW:
        return 0, x.size
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    starts = np.arange(0, x.size - _WINDOW + 1, _FINE_HOP)
    level = 10 * np.log10(np.maximum((energy[starts + _WINDOW] - energy[starts]) / _WINDOW, 1e-12))
    loud = np.flatnonzero(level > level.max() - SPAN_BELOW_PEAK_DB)
    return int(starts[loud[0]]), int(min(x.size, starts[loud[-1]] + _WINDOW))


def compute(samples: np.ndarray, sample_rate: int = _RATE) -> bytes:
    """The stored fingerprint of a clip (mono float samples at 16 kHz, as stored)."""
    if sample_rate != _RATE:
        raise ValueError(f"fingerprints are made from the stored 16 kHz audio, not {sample_rate} Hz")
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    start, end = _span(x)
    sound = x[start:end]
    if sound.size < _FFT:
        sound = np.pad(sound, (0, _FFT - sound.size))
    frames = (sound.size - _FFT) // _HOP + 1
    index = np.arange(_FFT)[None, :] + _HOP * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(sound[index] * np.hanning(_FFT), axis=1)) ** 2
    bands = np.stack([power[:, in_band].sum(axis=1) for in_band in _BAND_OF_BIN], axis=1)
    db = 10 * np.log10(np.maximum(bands, 1e-12))
    db = np.maximum(db, db.max() - FLOOR_BELOW_PEAK_DB)
    edges = np.linspace(0, frames, STEPS + 1)
    steps = np.stack([db[int(lo) : max(int(lo) + 1, round(hi))].mean(axis=0) for lo, hi in itertools.pairwise(edges)])
    centred = steps - steps.mean()
    spread = centred.std()
    normalised = centred / spread if spread > 1e-9 else centred
    quantized = np.clip(np.round(normalised * _SCALE), -127, 127).astype(np.int8)
    span_ms = min(65_535, round((end - start) * 1000 / _RATE))
    return _HEADER.pack(VERSION, span_ms) + quantized.tobytes()


def decode(stored: bytes | None) -> Fingerprint | None:
    """A stored fingerprint, or None when there is none of this version (compute it again)."""
    if stored is None or len(stored) != _HEADER.size + BANDS * STEPS:
        return None
    version, span_ms = _HEADER.unpack_from(stored)
    if version != VERSION:
        return None
    vector = np.frombuffer(stored, dtype=np.int8, offset=_HEADER.size).astype(np.float32)
    vector -= vector.mean()
    norm = float(np.linalg.norm(vector))
    return Fingerprint(span_ms / 1000.0, vector / norm if norm > 0 else vector)


def similar_span(a: float, b: float) -> bool:
    """Whether two spans of sound last about as long."""
    return abs(a - b) <= max(SPAN_TOLERANCE_S, SPAN_TOLERANCE * max(a, b))


def near_duplicates(fingerprints: Sequence[Fingerprint | None]) -> dict[int, int]:
    """For each fingerprint that nearly equals an earlier one in the sequence: its index → the earliest such.

    Only fingerprints of similar span are compared (sorted by span, each against those a little longer), so a
    dataset of clips of many lengths costs far less than every pair.
    """
    known = [(i, f) for i, f in enumerate(fingerprints) if f is not None and np.any(f.vector)]
    if len(known) < 2:
        return {}
    known.sort(key=lambda item: item[1].span_s)
    order = np.array([i for i, _ in known])
    spans = np.array([f.span_s for _, f in known])
    matrix = np.stack([f.vector for _, f in known])
    found: dict[int, int] = {}
    for k in range(len(known)):
        reach = max(SPAN_TOLERANCE_S, SPAN_TOLERANCE * spans[k] / (1 - SPAN_TOLERANCE))
        stop = int(np.searchsorted(spans, spans[k] + reach, side="right"))
        if stop <= k + 1:
            continue
        others = np.arange(k + 1, stop)
        others = others[[similar_span(spans[k], spans[j]) for j in others]]
        if not others.size:
            continue
        matches = others[matrix[others] @ matrix[k] >= SIMILAR]
        for j in matches:
            newer, older = max(order[k], order[j]), min(order[k], order[j])
            if found.get(int(newer), math.inf) > older:
                found[int(newer)] = int(older)
    return found
