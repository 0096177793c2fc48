"""The log-mel front end: a torch module built from conv1d and matmul so that it exports to ONNX."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms
N_MELS = 40
LOG_FLOOR = 1e-6


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of hz_to_mel."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    *,
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> np.ndarray:
    """Triangular HTK mel filters as a [n_mels, n_fft // 2 + 1] float32 matrix (unnormalised, as HTK)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    bin_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bin_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bin_hz[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def dft_kernels(n_fft: int = N_FFT) -> np.ndarray:
    """Hann-windowed cos and sin rows of the real DFT as conv1d weights [2 * (n_fft // 2 + 1), 1, n_fft]."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    # Periodic Hann, as torch.hann_window's default, so the result matches torch.stft.
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    angle = 2 * np.pi * k * n / n_fft
    kernels = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window], axis=0)
    return kernels[:, None, :].astype(np.float32)


class LogMel(nn.Module):
    """Raw audio [batch, samples] to log-mel [batch, n_mels, frames] (no centre padding, as stft(center=False))."""

    def __init__(self) -> None:
        super().__init__()
        # Non-persistent: the constants are rebuilt from code, so checkpoints hold only what was learned.
        self.register_buffer("dft", torch.from_numpy(dft_kernels()), persistent=False)
        self.register_buffer("mel", torch.from_numpy(mel_filterbank()), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spectrum = nn.functional.conv1d(audio.unsqueeze(1), self.dft, stride=HOP)
        real, imag = spectrum.chunk(2, dim=1)
        power = real * real + imag * imag
        return torch.log(torch.matmul(self.mel, power) + LOG_FLOOR)


def frame_count(samples: int) -> int:
    """How many frames LogMel makes of a window of this many samples."""
    return 1 + (samples - N_FFT) // HOP
