"""What training minimises and how fast: the weighted loss and the learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, hard_negative_weight: float) -> torch.Tensor:
    """Binary cross-entropy where a negative counts more the higher the model scores it.

    A negative at probability p weighs 1 + hard_negative_weight * p: windows that nearly fire (near-miss phrases,
    parts of the phrase) are where false accepts come from, and plain BCE gives them the same weight as silence.
    """
    per_example = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    weight = 1.0 + hard_negative_weight * torch.sigmoid(logits.detach()) * (1.0 - labels)
    return (per_example * weight).sum() / weight.sum()


def warmup_cosine(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    """The learning-rate factor per step: linear warm-up, then cosine decay to a tenth."""
    warmup = max(1, round(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor
