"""Scoring fixed windows with a model, in bounded chunks, and the binary metrics reported per epoch."""

from __future__ import annotations

import numpy as np
import torch

from worker.training.model import WakeWordModel

# Scoring thousands of windows as one batch can take gigabytes; chunks keep memory flat.
CHUNK = 256


@torch.no_grad()
def score_logits(model: WakeWordModel, windows: np.ndarray, device: torch.device) -> np.ndarray:
    """The model's logits for each window [n, samples], in eval mode; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        parts = [
            model.logits(torch.from_numpy(windows[i : i + CHUNK]).to(device)).float().cpu().numpy()
            for i in range(0, len(windows), CHUNK)
        ]
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def binary_metrics(logits: np.ndarray, labels: np.ndarray, prefix: str) -> dict[str, float]:
    """Mean BCE loss and accuracy at probability 0.5, keyed `{prefix}_loss` and `{prefix}_accuracy`."""
    if logits.size == 0:
        return {}
    x = logits.astype(np.float64)
    y = labels.astype(np.float64)
    # The stable form of BCE with logits: max(x, 0) - x*y + log(1 + exp(-|x|)).
    loss = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    accuracy = ((x > 0) == (y > 0.5)).mean()
    return {f"{prefix}_loss": float(loss.mean()), f"{prefix}_accuracy": float(accuracy)}
