"""New speakers and microphones from old ones, on log-mel features: vocal-tract warping and random EQ.

Synthetic voices come from a few engines with a few timbres each; people differ in vocal-tract length (which moves
every formant by the same factor) and microphones in frequency response. Both are cheap to imitate on the log-mel
features a batch already has: stretching the mel axis moves formants, and adding a smooth random curve across the
bands is an equaliser (log power adds what a filter multiplies). Applied to positives and negatives alike, so a
warped timbre is never a cue for either class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from worker.training.draws import Seed, as_generator, chosen_rows, integers, uniform


@dataclass(frozen=True)
class SpectralConfig:
    """How often and how strongly features are warped and equalised."""

    warp_probability: float = 0.6
    warp: tuple[float, float] = (0.85, 1.18)
    """Factor on the mel axis: above 1 moves formants up (a shorter vocal tract), below 1 down."""
    eq_probability: float = 0.5
    eq_db: float = 8.0
    """Peak-to-peak size of the random response across the bands, in dB."""
    eq_components: int = 3
    """Cosines summed for the response: few, so that it is smooth like a real microphone's."""


@dataclass(frozen=True)
class SpecAugmentConfig:
    """Frequency and time masks on log-mel features; each mask's width uniform in [0, max width]."""

    enabled: bool = True
    freq_masks: int = 1
    max_freq_width: int = 5
    time_masks: int = 1
    max_time_width: int = 8
    fill: Literal["mean", "zero"] = "mean"
    """What masked cells become: each example's mean (log-mel 0 is not silence but power 1), or zero."""

    def __post_init__(self) -> None:
        if min(self.freq_masks, self.max_freq_width, self.time_masks, self.max_time_width) < 0:
            raise ValueError("spec_augment mask counts and widths must not be negative")
        if self.fill not in ("mean", "zero"):
            raise ValueError(f"spec_augment.fill must be 'mean' or 'zero'; got {self.fill!r}")


def _band_mask(
    generator: torch.Generator, batch: int, size: int, count: int, max_width: int, device: torch.device
) -> torch.Tensor:
    """[batch, size] bool: `count` bands per row, each of width uniform in [0, max_width], at a random start."""
    positions = torch.arange(size, device=device)[None, :]
    mask = torch.zeros((batch, size), dtype=torch.bool, device=device)
    widest = torch.full((batch,), min(max_width, size), device=device, dtype=torch.long)
    for _ in range(count):
        width = integers(generator, widest)
        start = integers(generator, size - width)
        mask |= (positions >= start[:, None]) & (positions < (start + width)[:, None])
    return mask


def spec_augment_masks(
    shape: tuple[int, int, int],
    generator: Seed,
    config: SpecAugmentConfig | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The masks for features of this [batch, mels, frames] shape: bool [batch, mels] and [batch, frames]."""
    config = config or SpecAugmentConfig()
    batch, mels, frames = shape
    device = torch.device(device)
    gen = as_generator(generator, device)
    freq = _band_mask(gen, batch, mels, config.freq_masks, config.max_freq_width, device)
    time = _band_mask(gen, batch, frames, config.time_masks, config.max_time_width, device)
    return freq, time


def spec_augment(features: torch.Tensor, generator: Seed, config: SpecAugmentConfig | None = None) -> torch.Tensor:
    """Log-mel [batch, mels, frames] with random frequency and time bands set to config.fill (see SpecAugmentConfig).

    "mean" fills with each example's mean over all its cells, taken before masking.
    """
    config = config or SpecAugmentConfig()
    freq, time = spec_augment_masks(tuple(features.shape), generator, config, features.device)
    masked = freq[:, :, None] | time[:, None, :]
    if config.fill == "mean":
        fill = features.mean(dim=(1, 2), keepdim=True).expand_as(features)
    else:
        fill = torch.zeros_like(features)
    return torch.where(masked, fill, features)


def warp_mel_axis(features: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Log-mel [batch, mels, frames] with band i of row b read from band i / factors[b] (linear interpolation)."""
    batch, mels, frames = features.shape
    positions = (torch.arange(mels, device=features.device, dtype=features.dtype)[None, :] / factors[:, None]).clamp(
        0, mels - 1
    )
    low = positions.floor().long()
    high = (low + 1).clamp(max=mels - 1)
    frac = (positions - low.to(features.dtype))[:, :, None]
    take = lambda index: features.gather(1, index[:, :, None].expand(batch, mels, frames))  # noqa: E731
    return take(low) * (1 - frac) + take(high) * frac


def random_eq_curves(generator: torch.Generator, batch: int, mels: int, config: SpectralConfig) -> torch.Tensor:
    """[batch, mels] smooth random responses in natural-log power units, each spanning up to config.eq_db."""
    device = generator.device
    curves = torch.zeros((batch, mels), device=device)
    bands = torch.arange(mels, device=device, dtype=torch.float32)[None, :] / max(mels - 1, 1)
    for k in range(1, config.eq_components + 1):
        amplitude = uniform(generator, (batch, 1), -1.0, 1.0, device) / k
        phase = uniform(generator, (batch, 1), 0.0, 2 * math.pi, device)
        curves += amplitude * torch.cos(math.pi * k * bands + phase)
    span = (curves.amax(dim=1, keepdim=True) - curves.amin(dim=1, keepdim=True)).clamp(min=1e-6)
    size_db = uniform(generator, (batch, 1), 0.0, config.eq_db, device)
    return curves / span * size_db * (math.log(10) / 10)


def perturb_spectra(features: torch.Tensor, generator: Seed, config: SpectralConfig | None = None) -> torch.Tensor:
    """Log-mel [batch, mels, frames] with the chosen rows warped and equalised."""
    config = config or SpectralConfig()
    gen = as_generator(generator, features.device)
    batch, mels, _ = features.shape
    device = features.device
    warp = uniform(gen, (batch,), *config.warp, device)
    warped = chosen_rows(gen, batch, config.warp_probability, device)
    factors = torch.where(warped, warp, torch.ones_like(warp))
    out = warp_mel_axis(features, factors)
    curves = random_eq_curves(gen, batch, mels, config).to(device)
    equalised = chosen_rows(gen, batch, config.eq_probability, device)
    return out + torch.where(equalised[:, None], curves, torch.zeros_like(curves))[:, :, None]
