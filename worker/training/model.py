"""The wake-word network: a small depthwise-separable CNN over log-mel, and the raw-audio wrapper that is exported."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from worker.training.features import N_MELS, LogMel


@dataclass(frozen=True)
class Architecture:
    """Channel widths of a preset: the stem's, then (channels, stride) of each separable block."""

    stem: int
    blocks: tuple[tuple[int, int], ...]


ARCHITECTURES: dict[str, Architecture] = {
    # Sized to the presets' limits (tiny <= 30k, small <= 100k, base <= 500k parameters); test_trainer checks them.
    "tiny": Architecture(stem=16, blocks=((32, 1), (48, 2), (64, 1), (96, 2), (96, 1))),
    "small": Architecture(stem=24, blocks=((48, 1), (64, 2), (96, 1), (128, 2), (160, 1), (192, 1))),
    "base": Architecture(stem=48, blocks=((96, 1), (128, 2), (192, 1), (256, 2), (320, 1), (384, 1), (384, 1))),
}


def separable_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    """A 3x3 depthwise conv then a 1x1 pointwise conv, each followed by batch norm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class WakeWordNet(nn.Module):
    """Log-mel [batch, n_mels, frames] to one wake logit per example [batch]."""

    def __init__(self, preset: str) -> None:
        super().__init__()
        arch = ARCHITECTURES[preset]
        # Log-mel levels vary with recording gain; a per-band batch norm learns the scale instead of a fixed one.
        self.input_norm = nn.BatchNorm1d(N_MELS)
        layers: list[nn.Module] = [
            nn.Conv2d(1, arch.stem, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(arch.stem),
            nn.ReLU(),
        ]
        channels = arch.stem
        for cout, stride in arch.blocks:
            layers.append(separable_block(channels, cout, stride))
            channels = cout
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.body(self.input_norm(features).unsqueeze(1))
        return self.head(x.mean(dim=(2, 3))).squeeze(1)


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


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters, the figure the presets' size limits are stated in."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
