"""The wake-word network: a small temporal CNN over log-mel, and the raw-audio wrapper that is exported."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from worker.training.features import N_MELS, LogMel
from worker.training.stream_net import StreamingWakeWordModel


@dataclass(frozen=True)
class Architecture:
    """Channel widths of a preset: the stem's, then (channels, stride) of each separable block."""

    stem: int
    blocks: tuple[tuple[int, int], ...]
    kernel: int = 9


ARCHITECTURES: dict[str, Architecture] = {
    # Sized to the presets' limits (tiny <= 30k, small <= 100k, base <= 500k parameters); test_trainer checks them.
    "tiny": Architecture(stem=32, blocks=((32, 1), (48, 2), (48, 1), (64, 2), (64, 1))),
    "small": Architecture(stem=48, blocks=((48, 1), (64, 2), (64, 1), (96, 2), (96, 1), (128, 1), (128, 1))),
    "base": Architecture(
        stem=96, blocks=((96, 1), (128, 2), (128, 1), (192, 2), (192, 1), (256, 1), (256, 1), (256, 1))
    ),
}


class SeparableBlock(nn.Module):
    """A depthwise temporal conv then a pointwise conv, each with batch norm; a residual path around both."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int) -> None:
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv1d(cin, cin, kernel, stride=stride, padding=kernel // 2, groups=cin, bias=False),
            nn.BatchNorm1d(cin),
            nn.ReLU(),
        )
        self.pointwise = nn.Sequential(nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout))
        # The residual keeps deep stacks trainable in the few hundred steps a job gets.
        self.shortcut: nn.Module = (
            nn.Identity()
            if cin == cout and stride == 1
            else nn.Sequential(nn.Conv1d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm1d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pointwise(self.depthwise(x)) + self.shortcut(x))


class WakeWordNet(nn.Module):
    """Log-mel [batch, n_mels, frames] to one wake logit per example [batch]."""

    # Mel bands are the channels and convolutions run along time only (TC-ResNet style): a 1-s window costs a
    # fraction of a 2-D CNN's operations, which is what lets the model score ten windows a second on an edge CPU.
    def __init__(self, preset: str) -> None:
        super().__init__()
        arch = ARCHITECTURES[preset]
        # Log-mel levels vary with recording gain; a per-band batch norm learns the scale instead of a fixed one.
        self.input_norm = nn.BatchNorm1d(N_MELS)
        self.stem = nn.Sequential(
            nn.Conv1d(N_MELS, arch.stem, 3, padding=1, bias=False), nn.BatchNorm1d(arch.stem), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        channels = arch.stem
        for cout, stride in arch.blocks:
            blocks.append(SeparableBlock(channels, cout, stride, arch.kernel))
            channels = cout
        self.body = nn.Sequential(*blocks)
        # Max over time answers "is the phrase anywhere in the window"; the mean adds how much of it there is.
        self.head = nn.Linear(2 * channels, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.body(self.stem(self.input_norm(features)))
        pooled = torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)
        return self.head(pooled).squeeze(1)


class WakeWordModel(nn.Module):
    """Raw 16 kHz audio [batch, samples] float32 to wake probability [batch]; the module that is exported."""

    def __init__(self, preset: str) -> None:
        super().__init__()
        self.features = LogMel()
        self.net = WakeWordNet(preset)

    def logits(self, audio: torch.Tensor) -> torch.Tensor:
        """The pre-sigmoid score, which training's BCE-with-logits needs for numerical stability."""
        return self.net(self.features(audio))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(audio))


WakeModel = WakeWordModel | StreamingWakeWordModel
"""Either network: both take raw audio windows and have `logits` and `features`."""


def build_model(preset: str, architecture: str = "windowed") -> WakeModel:
    """A freshly initialised model of a size preset and architecture (TrainingConfig's `preset`, `architecture`)."""
    if architecture == "streaming":
        return StreamingWakeWordModel(preset)
    if architecture != "windowed":
        raise ValueError(f"unknown architecture {architecture!r}")
    return WakeWordModel(preset)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode for the block; its mode (training or not) is restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters, the figure the presets' size limits are stated in."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
