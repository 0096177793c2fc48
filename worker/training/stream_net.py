"""The streaming network: a causal temporal CNN whose windowed and streaming forms are the same layers.

Every temporal convolution is unpadded ("valid"), so a window's score depends on that window's audio alone, and
the streaming form (stream_export.py) gets the same score by keeping each convolution's left context as state:
the last (kernel - 1) x dilation frames of its input. The stem strides by STRIDE frames, so the network below it
runs once every STRIDE x 10 ms and a score comes out at that step; the pooling over the window becomes a running
mean and max over the last `pool_frames` outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from worker.training.features import HOP, N_FFT, N_MELS, LogMel, frame_count


@dataclass(frozen=True)
class StreamArchitecture:
    """The stem's width, then (channels, dilation) of each separable block; kernels along time."""

    stem: int
    blocks: tuple[tuple[int, int], ...]
    stem_kernel: int = 5
    stride: int = 3
    kernel: int = 3

    def context(self) -> int:
        """How many stem outputs the blocks consume before their first output: their summed left contexts."""
        return sum((self.kernel - 1) * dilation for _, dilation in self.blocks)


STREAM_ARCHITECTURES: dict[str, StreamArchitecture] = {
    # Each output hears 0.85-0.97 s, about one "hey jarvis", and a 1.5-s window pools over its last 18-22. Hearing
    # 0.6 s and pooling over more did no better on unheard voices, nor did hearing 0.9 s in a 1-s window, which
    # leaves 4 outputs to pool (the dev benchmark, README "Accuracy").
    "tiny": StreamArchitecture(stem=32, blocks=((32, 1), (48, 2), (48, 4), (64, 4), (64, 2))),
    "small": StreamArchitecture(stem=48, blocks=((48, 1), (64, 2), (64, 4), (96, 4), (96, 2), (128, 1))),
    "base": StreamArchitecture(stem=96, blocks=((96, 1), (128, 2), (128, 4), (192, 4), (192, 2), (256, 1), (256, 1))),
}


STREAM_LAYOUT = 2
"""Which STREAM_ARCHITECTURES a checkpoint's weights fit: dilations hold no weights, so a checkpoint of layout 1
(hearing 0.6 s, 2026-12-05) would load into these layers without an error and score wrongly."""


def pool_frames(preset: str, window_samples: int) -> int:
    """How many network outputs a window of this many samples pools over (at least 1, or ValueError)."""
    arch = STREAM_ARCHITECTURES[preset]
    frames = frame_count(window_samples)
    outputs = (frames - arch.stem_kernel) // arch.stride + 1 - arch.context() if frames >= arch.stem_kernel else 0
    if outputs < 1:
        shortest = (arch.context() * arch.stride + arch.stem_kernel - 1) * HOP + N_FFT
        raise ValueError(
            f"a {window_samples}-sample window is too short for the streaming {preset} network: it needs at least "
            f"{shortest} samples ({shortest / 16_000:.2f} s)"
        )
    return outputs


class CausalBlock(nn.Module):
    """An unpadded depthwise conv then a pointwise conv, each with batch norm; the residual is the input's tail."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.context = (kernel - 1) * dilation
        self.depthwise = nn.Sequential(
            nn.Conv1d(cin, cin, kernel, dilation=dilation, groups=cin, bias=False), nn.BatchNorm1d(cin), nn.ReLU()
        )
        self.pointwise = nn.Sequential(nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout))
        self.shortcut: nn.Module = (
            nn.Identity() if cin == cout else nn.Sequential(nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, cin, frames] to [batch, cout, frames - context]."""
        # The residual of an unpadded conv's output t is the input at t + context: the frames it ends on.
        return torch.relu(self.pointwise(self.depthwise(x)) + self.shortcut(x[:, :, self.context :]))


class StreamNet(nn.Module):
    """Log-mel [batch, n_mels, frames] to one wake logit per example [batch], pooled over all positions."""

    def __init__(self, preset: str) -> None:
        super().__init__()
        arch = STREAM_ARCHITECTURES[preset]
        self.stride = arch.stride
        self.stem_kernel = arch.stem_kernel
        self.input_norm = nn.BatchNorm1d(N_MELS)
        self.stem = nn.Sequential(
            nn.Conv1d(N_MELS, arch.stem, arch.stem_kernel, stride=arch.stride, bias=False),
            nn.BatchNorm1d(arch.stem),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        channels = arch.stem
        for cout, dilation in arch.blocks:
            blocks.append(CausalBlock(channels, cout, arch.kernel, dilation))
            channels = cout
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * channels, 1)

    def positions(self, features: torch.Tensor) -> torch.Tensor:
        """The body's output at each position [batch, channels, positions]."""
        return self.body(self.stem(self.input_norm(features)))

    def pooled_logit(self, x: torch.Tensor) -> torch.Tensor:
        """The head over the mean and max of the positions it is given [batch, channels, n] -> [batch]."""
        return self.head(torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)).squeeze(1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.pooled_logit(self.positions(features))


class StreamingWakeWordModel(nn.Module):
    """Raw 16 kHz audio [batch, samples] to wake probability [batch], built from StreamNet; the windowed form."""

    streaming = True

    def __init__(self, preset: str) -> None:
        super().__init__()
        self.preset = preset
        self.features = LogMel()
        self.net = StreamNet(preset)

    def logits(self, audio: torch.Tensor) -> torch.Tensor:
        """The pre-sigmoid score of each window."""
        return self.net(self.features(audio))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(audio))
