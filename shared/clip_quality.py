"""Dataset QA for one clip: levels, clipping, silence at the edges, an energy VAD, and the flags they raise."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import soundfile as sf

FRAME_S = 0.010
"""Frames of 10 ms: short enough to place a word's onset within a frame or two, long enough for a stable energy."""

CLIP_LEVEL = 0.999
"""A sample at |x| ≥ 0.999 counts as clipped: PCM16's full scale is 32767/32768, and converters that clip land there."""

CLIPPED_RATIO = 0.001
"""More than 0.1 % of samples at full scale: a few peaks touching the rail are harmless, this many are a distorted
recording (a level set too hot)."""

SILENT_PEAK_DBFS = -60.0
"""A peak below -60 dBFS holds nothing a microphone picked up beyond its own hiss: the clip is silent."""

QUIET_PEAK_DBFS = -30.0
"""A peak below -30 dBFS is a voice far from the microphone or a gain set too low: the model hears mostly
noise floor."""

SILENCE_BELOW_PEAK_DB = 40.0
"""Leading/trailing silence: frames more than 40 dB below the clip's own peak carry no sound of the clip."""

SILENCE_FLOOR_DBFS = -60.0
"""... or frames below -60 dBFS, whatever the peak: that is silence in absolute terms."""

ACTIVITY_BELOW_PEAK_DB = 30.0
"""Energy VAD: a frame within 30 dB of the peak is activity (speech energy sits well
within that of its loudest part)."""

ACTIVITY_FLOOR_DBFS = -55.0
"""... and never a frame below -55 dBFS, so that a quiet clip's hiss does not count as activity."""

EDGE_S = 0.030
"""A positive whose activity reaches into its first or last 30 ms was likely cut mid-word (a recording started late or
stopped early): the model then learns a clipped phrase."""

MOSTLY_SILENCE_SHARE = 0.15
"""Less than 15 % active frames: a clip that is mostly silence teaches little (a short word in a long
clip, or nothing)."""

FLAGS = ("silent", "clipped", "too_quiet", "cut_at_edge", "mostly_silence")
_FLOOR_DB = -120.0


@dataclass(frozen=True)
class ClipQuality:
    """What QA measures in one clip (mono float samples in [-1, 1])."""

    peak_dbfs: float
    rms_dbfs: float
    clipping_ratio: float
    leading_silence_s: float
    trailing_silence_s: float
    activity_share: float
    active_at_edge: bool


def _db(value: float | np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.maximum(value, 1e-6))


def measure(samples: np.ndarray, sample_rate: int) -> ClipQuality:
    """Measure a clip's levels, clipping, edge silence and activity."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if x.size == 0:
        return ClipQuality(_FLOOR_DB, _FLOOR_DB, 0.0, 0.0, 0.0, 0.0, False)
    magnitude = np.abs(x)
    peak = float(magnitude.max())
    peak_dbfs = float(_db(peak)) if peak > 1e-6 else _FLOOR_DB
    rms = math.sqrt(float(np.mean(np.square(x))))
    rms_dbfs = float(_db(rms)) if rms > 1e-6 else _FLOOR_DB
    clipping_ratio = float(np.count_nonzero(magnitude >= CLIP_LEVEL)) / x.size

    frame = max(1, round(FRAME_S * sample_rate))
    count = max(1, x.size // frame)
    frames = x[: count * frame].reshape(count, frame) if x.size >= frame else x.reshape(1, -1)
    levels = _db(np.sqrt(np.mean(np.square(frames), axis=1)))
    frame_s = frames.shape[1] / sample_rate

    loud = levels >= max(peak_dbfs - SILENCE_BELOW_PEAK_DB, SILENCE_FLOOR_DBFS)
    if loud.any():
        leading = int(np.argmax(loud)) * frame_s
        trailing = int(np.argmax(loud[::-1])) * frame_s
    else:
        leading = trailing = count * frame_s

    active = levels > max(peak_dbfs - ACTIVITY_BELOW_PEAK_DB, ACTIVITY_FLOOR_DBFS)
    edge = max(1, math.ceil(EDGE_S / frame_s - 1e-9))
    return ClipQuality(
        peak_dbfs=round(peak_dbfs, 2),
        rms_dbfs=round(rms_dbfs, 2),
        clipping_ratio=round(clipping_ratio, 6),
        leading_silence_s=round(leading, 3),
        trailing_silence_s=round(trailing, 3),
        activity_share=round(float(active.mean()), 4),
        active_at_edge=bool(active[:edge].any() or active[-edge:].any()),
    )


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """A stored clip's mono float samples and sample rate, from its WAV bytes."""
    samples, sample_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return samples.mean(axis=1), sample_rate


def quality_flags(quality: ClipQuality, label: str) -> list[str]:
    """The QA flags of a clip with this label (labels change: flags are derived, not stored)."""
    if quality.peak_dbfs < SILENT_PEAK_DBFS:
        return ["silent"]  # the other flags say nothing more about an empty clip
    found = []
    if quality.clipping_ratio > CLIPPED_RATIO:
        found.append("clipped")
    if quality.peak_dbfs < QUIET_PEAK_DBFS:
        found.append("too_quiet")
    if label == "positive" and quality.active_at_edge:
        found.append("cut_at_edge")
    if quality.activity_share < MOSTLY_SILENCE_SHARE:
        found.append("mostly_silence")
    return found
