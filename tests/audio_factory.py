"""Audio the tests make for themselves: tones and noise in any format soundfile writes."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


def tone(
    seconds: float = 1.0,
    *,
    sample_rate: int = 16_000,
    channels: int = 1,
    freq: float = 440.0,
    amplitude: float = 0.3,
    seed: int = 0,
) -> np.ndarray:
    """A sine with a little seeded noise, so that every seed gives different (non-duplicate) audio."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(seed)
    signal = amplitude * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    return np.repeat(signal[:, None], channels, axis=1).astype(np.float32)


def encode(samples: np.ndarray, sample_rate: int, *, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    """Samples written as a file in memory."""
    out = io.BytesIO()
    sf.write(out, samples, sample_rate, format=fmt, subtype=subtype)
    return out.getvalue()


def wav_bytes(
    seconds: float = 1.0,
    *,
    sample_rate: int = 16_000,
    channels: int = 1,
    subtype: str = "PCM_16",
    fmt: str = "WAV",
    seed: int = 0,
    freq: float = 440.0,
) -> bytes:
    """A clip as file bytes: WAV by default, or any format/subtype soundfile writes (FLAC, OGG…)."""
    samples = tone(seconds, sample_rate=sample_rate, channels=channels, seed=seed, freq=freq)
    return encode(samples, sample_rate, fmt=fmt, subtype=subtype)


def mp3_bytes(seconds: float = 1.0) -> bytes:
    """A real MP3 stream (libsndfile encodes it), for checking MP3 is refused whatever its name."""
    return encode(tone(seconds, sample_rate=16_000), 16_000, fmt="MP3", subtype="MPEG_LAYER_III")
