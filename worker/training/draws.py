"""Seeded random draws for augmentation: one generator per batch, numbers made on its device, one value per row."""

from __future__ import annotations

from typing import TypeAlias

import torch

Seed: TypeAlias = torch.Generator | int


def check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1]; got {value}")


def check_range(name: str, value: tuple[float, float], *, positive: bool = False) -> None:
    low, high = value
    if low > high:
        raise ValueError(f"{name} must be (low, high) with low <= high; got {value}")
    if positive and low <= 0:
        raise ValueError(f"{name} must be positive; got {value}")


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on `device`, seeded."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def as_generator(seed: Seed, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator itself, or a new one on `device` seeded with the int."""
    return seed if isinstance(seed, torch.Generator) else make_generator(seed, device)


def uniform(
    generator: torch.Generator, size: tuple[int, ...], low: float, high: float, device: torch.device
) -> torch.Tensor:
    draw = torch.rand(size, generator=generator, device=generator.device)
    return (low + (high - low) * draw).to(device)


def integers(generator: torch.Generator, highs: torch.Tensor) -> torch.Tensor:
    """One integer per row, uniform in [0, highs[i]] (inclusive)."""
    draw = torch.rand(highs.shape, generator=generator, device=generator.device).to(highs.device)
    return torch.minimum((draw * (highs + 1)).floor().long(), highs)


def chosen_rows(generator: torch.Generator, batch: int, probability: float, device: torch.device) -> torch.Tensor:
    """Which rows a part applies to, each with `probability`."""
    return uniform(generator, (batch,), 0.0, 1.0, device) < probability


def per_row(value: torch.Tensor | float, batch: int, like: torch.Tensor) -> torch.Tensor:
    """A per-row float tensor [batch] on `like`'s device from a scalar or a [batch] tensor."""
    tensor = torch.as_tensor(value, dtype=torch.float32, device=like.device)
    return tensor.expand(batch) if tensor.ndim == 0 else tensor
