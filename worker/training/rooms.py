"""Rooms for augmentation: a seeded bank of synthetic impulse responses, cached on the volume, and reverb from it."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worker.training.draws import Seed, as_generator, check_probability, check_range, chosen_rows, integers
from worker.training.features import SAMPLE_RATE

RIR_BANK_VERSION = 1
"""Part of the cache file's name: bump it when build_rir_bank changes what it makes from the same config."""


@dataclass(frozen=True)
class ReverbConfig:
    """Convolution with a synthetic room impulse response from a seeded, cached bank."""

    enabled: bool = True
    probability: float = 0.3
    bank_size: int = 256
    rt60_s: tuple[float, float] = (0.15, 0.8)
    """Reverberation time (60 dB decay), uniform in this range; the responses are as long as the longest."""
    drr_db: tuple[float, float] = (-3.0, 12.0)
    """Direct-to-reverberant energy ratio, uniform in this range: low is far from the mic, high is close."""
    seed: int = 0
    """Seed of the bank itself, so every run (and the cache) shares one bank."""

    def __post_init__(self) -> None:
        check_probability("reverb.probability", self.probability)
        check_range("reverb.rt60_s", self.rt60_s, positive=True)
        check_range("reverb.drr_db", self.drr_db)
        if self.bank_size < 1:
            raise ValueError(f"reverb.bank_size must be at least 1; got {self.bank_size}")


def synthetic_rir(
    rng: np.random.Generator, rt60_s: float, drr_db: float, length: int, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """One room impulse response, unit energy: a direct path, a few early reflections and a decaying noise tail."""
    t = np.arange(length) / sample_rate
    # Energy falls 60 dB in rt60 seconds: amplitude exp(-ln(1000) t / rt60).
    envelope = np.exp(-math.log(1000.0) * t / rt60_s)
    # The diffuse tail builds up over the first 5 ms rather than starting at full level beside the direct path.
    rir = rng.standard_normal(length) * envelope * np.minimum(1.0, t / 0.005)
    rir *= math.sqrt(10.0 ** (-drr_db / 10.0) / max(float(np.sum(rir**2)), 1e-20))
    # Early reflections, relative to the direct path: they count as reverberant energy, so the DRR is approximate.
    for _ in range(int(rng.integers(3, 7))):
        delay = int(rng.integers(round(0.001 * sample_rate), round(0.02 * sample_rate)))
        if delay < length:
            rir[delay] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.7) * envelope[delay]
    # The direct path at sample 0 keeps reverberant audio aligned with the dry audio.
    rir[0] = 1.0
    return (rir / np.sqrt(np.sum(rir**2))).astype(np.float32)


def build_rir_bank(config: ReverbConfig | None = None, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """config.bank_size synthetic responses as float32 [bank_size, length], from config.seed alone."""
    config = config or ReverbConfig()
    rng = np.random.default_rng(config.seed)
    length = max(1, math.ceil(config.rt60_s[1] * sample_rate))
    bank = np.zeros((config.bank_size, length), dtype=np.float32)
    for i in range(config.bank_size):
        rt60 = rng.uniform(*config.rt60_s)
        drr = rng.uniform(*config.drr_db)
        bank[i] = synthetic_rir(rng, rt60, drr, length, sample_rate)
    return bank


def rir_bank_path(folder: Path, config: ReverbConfig | None = None, sample_rate: int = SAMPLE_RATE) -> Path:
    """The cache file for this bank: its name hashes everything the bank is built from."""
    config = config or ReverbConfig()
    recipe = {
        "version": RIR_BANK_VERSION,
        "sample_rate": sample_rate,
        "bank_size": config.bank_size,
        "rt60_s": list(config.rt60_s),
        "drr_db": list(config.drr_db),
        "seed": config.seed,
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    return Path(folder) / f"rir_bank_{digest}.npy"


def load_or_build_rir_bank(
    folder: Path, config: ReverbConfig | None = None, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """The bank from its cache file in `folder`, building and saving it first if the file is missing or unreadable."""
    config = config or ReverbConfig()
    path = rir_bank_path(folder, config, sample_rate)
    expected = (config.bank_size, max(1, math.ceil(config.rt60_s[1] * sample_rate)))
    try:
        bank = np.load(path, allow_pickle=False)
        if bank.shape == expected and bank.dtype == np.float32:
            return bank
    except (OSError, ValueError, EOFError):
        pass  # missing or truncated: rebuild below
    bank = build_rir_bank(config, sample_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: concurrent jobs sharing the folder never load a half-written file.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, bank)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return bank


def convolve_rir(audio: torch.Tensor, rirs: torch.Tensor, *, keep_rms: bool = True) -> torch.Tensor:
    """Each row convolved (via FFT) with its response ([batch, taps], or [taps] for all), cut to the input's length.

    With keep_rms the result is rescaled to the input row's RMS, so reverberation does not change the level.
    """
    batch, samples = audio.shape
    rirs = rirs.to(audio.device, audio.dtype)
    if rirs.ndim == 1:
        rirs = rirs.expand(batch, -1)
    needed = samples + rirs.shape[1] - 1
    size = 1 << (needed - 1).bit_length()  # the power of two >= needed: no circular wrap-around
    wet = torch.fft.irfft(torch.fft.rfft(audio, n=size) * torch.fft.rfft(rirs, n=size), n=size)[:, :samples]
    if not keep_rms:
        return wet
    dry_power, wet_power = _power(audio), _power(wet)
    gain = torch.where(wet_power > 0, torch.sqrt(dry_power / wet_power.clamp(min=1e-30)), torch.zeros_like(wet_power))
    return wet * gain[:, None]


def random_reverb(
    audio: torch.Tensor, generator: Seed, bank: torch.Tensor, config: ReverbConfig | None = None
) -> torch.Tensor:
    """Each chosen row convolved with a random response from the bank, at its own RMS."""
    config = config or ReverbConfig()
    batch = audio.shape[0]
    gen = as_generator(generator, audio.device)
    bank = torch.as_tensor(bank, device=audio.device)
    choice = integers(gen, torch.full((batch,), bank.shape[0] - 1, device=audio.device))
    chosen = chosen_rows(gen, batch, config.probability, audio.device)
    return torch.where(chosen[:, None], convolve_rir(audio, bank[choice]), audio)


def _power(audio: torch.Tensor) -> torch.Tensor:
    return audio.square().mean(dim=1)
