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
# LogMel's DFT is factored as 20 chunks of 20 samples; a chunk must divide both N_FFT and HOP.
CHUNK = 20


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
    # The direct form, which LogMel used until it was factored: bench/train.py still sizes its constants by it.
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)[:, None]
    # Periodic Hann, as torch.hann_window's default, so the result matches torch.stft.
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    angle = 2 * np.pi * k * n / n_fft
    kernels = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window], axis=0)
    return kernels[:, None, :].astype(np.float32)


def factored_dft(n_fft: int = N_FFT, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Hann-windowed real DFT in two stages: (stage-1 conv weights, stage-2 real and imag rows, each row's bin)."""
    # Cooley-Tukey with n = chunk * p + q (p: which chunk of the frame, q: where in the chunk) and X[k] the DFT bin:
    #   X[k] = sum_q exp(-2 pi i q k / n_fft) * Y[q, k mod chunks],
    #   Y[q, a] = sum_p w[n] x[n] exp(-2 pi i p a / chunks).
    # Stage 1 (Y) is a chunks-point DFT per q with the window folded in; stage 2 is, for each residue a, a complex
    # chunk-point sum that folds in the twiddles. The input is real, so Y[q, chunks - a] = conj(Y[q, a]): stage 1
    # computes residues 0..chunks // 2 only and stage 2 reads residue a for the bins congruent to a or to -a.
    chunks = n_fft // chunk
    residues = chunks // 2 + 1
    n = np.arange(n_fft).reshape(chunks, chunk)  # n[p, q]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    angle = 2 * np.pi * np.arange(chunks)[:, None] * np.arange(residues)[None, :] / chunks  # [p, a]
    # Output channel (q, a, real / imag), tap p: grouped by q, as conv1d with groups=chunk needs.
    stage1 = np.stack([window.T[:, :, None] * np.cos(angle), -window.T[:, :, None] * np.sin(angle)], axis=-1)
    stage1 = stage1.transpose(0, 2, 3, 1).reshape(chunk * residues * 2, 1, chunks)

    groups = [[k for k in range(n_fft // 2 + 1) if k % chunks in (a, (chunks - a) % chunks)] for a in range(residues)]
    width = max(len(group) for group in groups)
    bins = np.full((residues, width), -1)
    # Rows past a residue's last bin stay zero (and get no mel weight): every residue is padded to the same width so
    # stage 2 is one batched matmul rather than one op per residue.
    stage2 = np.zeros((2, residues, width, chunk, 2))  # [real / imag out, a, row, q, real / imag in]
    q = np.arange(chunk)
    for a, group in enumerate(groups):
        for row, k in enumerate(group):
            bins[a, row] = k
            twiddle = np.exp(-2j * np.pi * q * k / n_fft)
            sign = 1.0 if k % chunks == a else -1.0  # -1: this bin reads conj(Y[q, a])
            stage2[0, a, row, :, 0] = twiddle.real
            stage2[0, a, row, :, 1] = -twiddle.imag * sign
            stage2[1, a, row, :, 0] = twiddle.imag
            stage2[1, a, row, :, 1] = twiddle.real * sign
    stage2 = stage2.reshape(2, residues, width, 2 * chunk).astype(np.float32)
    return stage1.astype(np.float32), stage2[0], stage2[1], bins


class LogMel(nn.Module):
    """Raw audio [batch, samples] to log-mel [batch, n_mels, frames] (no centre padding, as stft(center=False))."""

    # torch.stft does not export through the legacy ONNX exporter, so the DFT is built from conv1d and matmul. As one
    # conv1d of 402 dense 400-tap kernels it cost 16M multiply-adds a second of audio, most of the model's time; the
    # factored form below does about a fifth of that and agrees with torch.stft to float32 rounding.

    def __init__(self) -> None:
        super().__init__()
        stage1, stage2_real, stage2_imag, bins = factored_dft()
        mel = np.where(bins >= 0, mel_filterbank()[:, bins], 0.0).astype(np.float32)
        # Attributes, not module globals, so that torch.jit.script can read them too.
        self.chunk = CHUNK
        self.stride = HOP // CHUNK
        self.frame_chunks = N_FFT // CHUNK
        self.residues, self.width = bins.shape
        self.log_floor = LOG_FLOOR
        # Non-persistent: the constants are rebuilt from code, so checkpoints hold only what was learned.
        self.register_buffer("stage1", torch.from_numpy(stage1), persistent=False)
        self.register_buffer("stage2_real", torch.from_numpy(stage2_real), persistent=False)
        self.register_buffer("stage2_imag", torch.from_numpy(stage2_imag), persistent=False)
        # The mel filters over stage 2's bin order. A matmul, not a conv: onnxruntime's int8 quantizer turns a Conv
        # into ConvInteger, which on the power spectrum's dynamic range wipes out the quiet bands.
        self.register_buffer("mel", torch.from_numpy(mel.reshape(N_MELS, -1)), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        samples = audio.shape[-1]
        return self.of_length(audio, samples, (samples // self.chunk - self.frame_chunks) // self.stride + 1)

    def of_length(self, audio: torch.Tensor, samples: int, frames: int) -> torch.Tensor:
        """forward() with the audio's length and frame count given: as Python ints (the streaming export's fixed
        chunk), a traced graph holds them as constants instead of computing them from the input's shape."""
        # Chunk-position-major [batch, chunk, chunks in the audio]: chunk p of frame f is then column
        # stride * f + p of every channel, so a strided conv reads the frames without building them.
        chunked = audio[:, : samples - samples % self.chunk].reshape(-1, samples // self.chunk, self.chunk)
        stage1 = nn.functional.conv1d(chunked.transpose(1, 2), self.stage1, stride=self.stride, groups=self.chunk)
        stage1 = stage1.reshape(-1, self.chunk, self.residues, 2, frames).transpose(1, 2)
        stage1 = stage1.reshape(-1, self.residues, 2 * self.chunk, frames)
        real = torch.matmul(self.stage2_real, stage1)
        imag = torch.matmul(self.stage2_imag, stage1)
        power = (real * real + imag * imag).reshape(-1, self.residues * self.width, frames)
        return torch.log(torch.matmul(self.mel, power) + self.log_floor)


def frame_count(samples: int) -> int:
    """How many frames LogMel makes of a window of this many samples."""
    return 1 + (samples - N_FFT) // HOP
