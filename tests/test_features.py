"""The log-mel front end: its factored DFT against torch.stft, and its TorchScript and ONNX exports."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from worker.training.features import HOP, LOG_FLOOR, N_FFT, N_MELS, SAMPLE_RATE, LogMel, frame_count, mel_filterbank

pytestmark = pytest.mark.unit

# float32 rounding of a 400-point DFT, seen through the log in bands ~10^6 quieter than the frame's loudest.
TOLERANCE = 1e-4


def stft_log_mel(audio: np.ndarray) -> np.ndarray:
    """The log-mel LogMel must reproduce, from torch.stft in float64."""
    spectrum = torch.stft(
        torch.from_numpy(audio.astype(np.float64)),
        n_fft=N_FFT,
        hop_length=HOP,
        window=torch.hann_window(N_FFT, dtype=torch.float64),
        center=False,
        return_complex=True,
    )
    mel = torch.from_numpy(mel_filterbank().astype(np.float64)) @ spectrum.abs().pow(2)
    return torch.log(mel + LOG_FLOOR).numpy()


def speech_like(samples: int, level: float, seed: int) -> np.ndarray:
    """A gliding 120 Hz buzz with 30 harmonics, voiced at 4 Hz and noisy in between, peaking at `level`."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 3 * t)) / SAMPLE_RATE
    voiced = sum(np.sin(h * phase) / h for h in range(1, 31))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0.0, None)
    signal = voiced * envelope + 0.3 * rng.standard_normal(samples) * (1 - envelope)
    return (level * signal / np.abs(signal).max()).astype(np.float32)


def log_mel(audio: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return LogMel()(torch.from_numpy(audio)).numpy()


@pytest.mark.parametrize("samples", [N_FFT, 8_000, 12_345, 16_000, 24_000, 48_000])
def test_log_mel_matches_torch_stft_at_every_window_length(samples: int) -> None:
    rng = np.random.default_rng(samples)
    audio = np.stack(
        [
            rng.uniform(-1, 1, samples).astype(np.float32),
            speech_like(samples, 0.3, seed=1),
            speech_like(samples, 0.02, seed=2),
            np.zeros(samples, dtype=np.float32),
        ]
    )
    features = log_mel(audio)
    assert features.shape == (4, N_MELS, frame_count(samples))
    assert np.max(np.abs(features - stft_log_mel(audio))) <= TOLERANCE


def test_silence_gives_the_log_floor_in_every_band() -> None:
    features = log_mel(np.zeros((2, 16_000), dtype=np.float32))
    np.testing.assert_allclose(features, np.log(LOG_FLOOR), rtol=0, atol=1e-6)


def test_samples_past_the_last_whole_frame_are_ignored() -> None:
    whole_frames = N_FFT + 97 * HOP
    audio = speech_like(whole_frames + HOP - 1, 0.3, seed=3)[None]
    np.testing.assert_array_equal(log_mel(audio), log_mel(audio[:, :whole_frames]))


def test_traced_and_scripted_log_mel_match_eager() -> None:
    module = LogMel().eval()
    audio = torch.from_numpy(np.stack([speech_like(12_345, 0.3, seed=s) for s in range(3)]))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        eager = module(audio)
        traced = torch.jit.trace(module, audio[:2])(audio)
        scripted = torch.jit.script(module)(audio)
    torch.testing.assert_close(traced, eager, rtol=0, atol=1e-5)
    torch.testing.assert_close(scripted, eager, rtol=0, atol=1e-5)


@pytest.mark.parametrize("samples", [8_000, 16_003])
def test_onnx_log_mel_matches_pytorch_at_any_batch_size(samples: int, tmp_path: Path) -> None:
    path = tmp_path / "log_mel.onnx"
    module = LogMel().eval()
    # As export.py writes the model: legacy exporter, opset 17, a dynamic batch axis.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (torch.zeros(2, samples),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["audio"],
            output_names=["log_mel"],
            dynamic_axes={"audio": {0: "batch"}, "log_mel": {0: "batch"}},
            external_data=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        audio = np.stack([speech_like(samples, 0.3, seed=s) for s in range(batch)])
        onnx_out = session.run(["log_mel"], {"audio": audio})[0]
        assert onnx_out.shape == (batch, N_MELS, frame_count(samples))
        assert np.max(np.abs(onnx_out - log_mel(audio))) <= 1e-5
