"""Audio conversions with numpy and soundfile only: PCM16 bytes, WAV files and bytes, mono, resampling to 16 kHz."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000
# Half-length of the resampling filter in output-rate periods: about 0.1 dB of ripple, enough for a wake word.
RESAMPLE_ZEROS = 16
RESAMPLE_CHUNK = 8_192


def pcm16_to_float(data: bytes) -> np.ndarray:
    """Little-endian signed 16-bit samples as float32 in [-1, 1), as soundfile reads a PCM16 WAV."""
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def wav_bytes(audio: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """Mono float audio as a 16-bit PCM WAV file in memory."""
    out = io.BytesIO()
    sf.write(out, np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def read_wav(path: str | Path) -> np.ndarray:
    """A sound file as 16 kHz mono float32: channels averaged, other rates resampled."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(data.mean(axis=1, dtype=np.float32), rate)


def resample(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mono audio at `rate` Hz resampled to 16 kHz with a Hann-windowed sinc filter (band-limited both ways)."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if rate == SAMPLE_RATE or audio.size == 0:
        return audio
    ratio = SAMPLE_RATE / rate
    # The cut-off sits below the lower of the two Nyquist frequencies, in cycles per input sample.
    cutoff = 0.5 * min(1.0, ratio) * 0.97
    half = math.ceil(RESAMPLE_ZEROS / min(1.0, ratio))
    offsets = np.arange(-half + 1, half + 1)
    count = math.floor(audio.size * ratio)
    out = np.empty(count, dtype=np.float32)
    padded = np.concatenate([np.zeros(half, np.float32), audio, np.zeros(half + 1, np.float32)])
    for start in range(0, count, RESAMPLE_CHUNK):
        positions = np.arange(start, min(count, start + RESAMPLE_CHUNK)) / ratio
        base = np.floor(positions).astype(np.int64)
        taps = base[:, None] + offsets[None, :]
        distance = positions[:, None] - taps
        weights = 2 * cutoff * np.sinc(2 * cutoff * distance) * (0.5 + 0.5 * np.cos(np.pi * distance / half))
        out[start : start + len(positions)] = np.sum(padded[taps + half] * weights, axis=1)
    return out
