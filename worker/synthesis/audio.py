"""The sample rate every engine speaks at, and the silence trimming they share."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000

_MARGIN_S = 0.05
_TRIM_FLOOR_DB = -40.0


def trim_silence(audio: np.ndarray, *, margin_s: float = _MARGIN_S) -> np.ndarray:
    """Cut leading and trailing silence (10 ms frames 40 dB below the loudest), then pad to `margin_s` each side."""
    frame = SAMPLE_RATE // 100
    n_frames = audio.size // frame
    if n_frames == 0:
        return np.zeros(0, dtype=np.float32)
    rms = np.sqrt(np.mean(np.square(audio[: n_frames * frame].reshape(n_frames, frame)), axis=1))
    threshold = max(float(rms.max()) * 10 ** (_TRIM_FLOOR_DB / 20), 1e-4)
    active = np.flatnonzero(rms > threshold)
    if active.size == 0:
        return np.zeros(0, dtype=np.float32)
    margin = round(margin_s * SAMPLE_RATE)
    start = max(0, active[0] * frame - margin)
    end = min(audio.size, (active[-1] + 1) * frame + margin)
    # espeak leaves only ~10 ms of silence around speech; pad so every clip has the same margins.
    pad_before = margin - (active[0] * frame - start)
    pad_after = margin - (end - (active[-1] + 1) * frame)
    return np.pad(audio[start:end], (pad_before, pad_after)).astype(np.float32)
