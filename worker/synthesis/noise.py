"""Coloured noise clips: white, pink, brown, blue and violet at a random level."""

from __future__ import annotations

import numpy as np

from worker.synthesis.audio import SAMPLE_RATE

NOISE_COLOURS = ("white", "pink", "brown", "blue", "violet")


def coloured_noise(rng: np.random.Generator, seconds: float, colour: str) -> np.ndarray:
    """Noise whose power falls (pink, brown) or rises (blue, violet) with frequency, at a random level."""
    exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0, "violet": -2.0}[colour]
    n = round(seconds * SAMPLE_RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    level_dbfs = rng.uniform(-45.0, -15.0)
    noise *= 10 ** (level_dbfs / 20) / max(float(np.sqrt(np.mean(noise**2))), 1e-12)
    peak = float(np.abs(noise).max())
    if peak > 0.95:
        noise *= 0.95 / peak
    return noise.astype(np.float32)
