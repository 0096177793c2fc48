"""The streaming form of a StreamingWakeWordModel: new audio and the previous states in, scores and new states out.

Each call takes a chunk of audio (a whole number of steps, STEP_SAMPLES each) and the states the previous call
returned (zeros at the start of a stream), and gives one probability per step: that of the window of audio that
ends with the step, exactly as the windowed form scores it. The states are the left context every layer needs:
the audio the next log-mel frame overlaps, the stem's and each block's last input frames, and the last outputs
the window pools over.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from worker.training.features import HOP, N_FFT, N_MELS
from worker.training.quantize import quantize_graph
from worker.training.stream_net import STREAM_ARCHITECTURES, StreamingWakeWordModel, pool_frames
from worker.training.stream_runtime import StreamScorer

AUDIO_CONTEXT = N_FFT - HOP
"""Samples of the last chunk that the next log-mel frame still covers."""
STREAM_ONNX = "model.streaming.onnx"
STREAM_ONNX_INT8 = "model.streaming.int8.onnx"
CHUNK_STEPS = 6
"""Steps per call of the streaming graph (180 ms). A call costs about 0.1 ms of fixed overhead in onnxruntime, as
much as the network's arithmetic for a few steps: on 2 x86 cores (bench/inference.py, small model, one thread)
one call per 120 ms cost 0.49-0.62 of pymicro-wakeword's CPU and one per 180 ms 0.39-0.44. It adds at most 180 ms
before a detection is known, about what the windowed detector's 100-ms hop and batch did. The chunk is static: a
fixed shape lets onnxruntime plan the graph once."""
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class StateSpec:
    """One state tensor of the streaming graph: its input and output names, shape and what it holds."""

    input: str
    output: str
    shape: tuple[int, ...]
    holds: str


@dataclass(frozen=True)
class StreamContract:
    """What a runtime needs to drive the streaming graph; written into config.json as `streaming`."""

    onnx: str
    onnx_int8: str
    sample_rate: int
    step_samples: int
    """Audio per score."""
    chunk_samples: int
    """Audio per call: `audio` is [1, chunk_samples] float32 in [-1, 1]; `probability` is [1, chunk / step]."""
    window_samples: int
    """The audio each score covers: the last `window_samples` up to the end of its step."""
    audio_input: str
    probability_output: str
    states: tuple[StateSpec, ...]
    """Fed zeros at the start of a stream, then each call's outputs to the next call."""

    def to_dict(self) -> dict:
        return asdict(self)


def step_samples(preset: str) -> int:
    """Audio samples per streaming step: the stem's stride in log-mel hops."""
    return STREAM_ARCHITECTURES[preset].stride * HOP


def covered_samples(preset: str, window_samples: int) -> int:
    """The samples of a window that its score depends on: its start up to the last frame the stem reads."""
    arch = STREAM_ARCHITECTURES[preset]
    frames = (pool_frames(preset, window_samples) - 1 + arch.context()) * arch.stride + arch.stem_kernel
    return (frames - 1) * HOP + N_FFT


def contract(preset: str, window_samples: int) -> StreamContract:
    """The names, shapes and meaning of the streaming graph's tensors for this preset and window."""
    arch = STREAM_ARCHITECTURES[preset]
    states = [
        StateSpec("state_audio", "next_state_audio", (1, AUDIO_CONTEXT), "the last audio samples"),
        StateSpec("state_stem", "next_state_stem", (1, N_MELS, arch.stem_kernel - arch.stride), "log-mel"),
    ]
    channels = arch.stem
    for index, (cout, dilation) in enumerate(arch.blocks):
        shape = (1, channels, (arch.kernel - 1) * dilation)
        states.append(StateSpec(f"state_block{index}", f"next_state_block{index}", shape, f"block {index}'s input"))
        channels = cout
    pool = pool_frames(preset, window_samples)
    if pool > 1:
        states.append(StateSpec("state_pool", "next_state_pool", (1, channels, pool - 1), "the last outputs pooled"))
    step = step_samples(preset)
    return StreamContract(
        onnx=STREAM_ONNX,
        onnx_int8=STREAM_ONNX_INT8,
        sample_rate=16_000,
        step_samples=step,
        chunk_samples=CHUNK_STEPS * step,
        window_samples=covered_samples(preset, window_samples),
        audio_input="audio",
        probability_output="probability",
        states=tuple(states),
    )


def _folded(conv: nn.Conv1d, norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of a bias-free conv followed by an eval-mode batch norm, as one conv."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return conv.weight * scale[:, None, None], norm.bias - norm.running_mean * scale


class StreamingForm(nn.Module):
    """The windowed model's layers run on new audio with explicit state; the module that is exported.

    With `fold`, batch norms are folded into the convolutions and each block's pointwise conv and residual become
    one conv over both: the same function in fewer graph nodes (61 against 71 for the small network once
    onnxruntime has fused what it can; the CPU it saved was within this machine's noise, bench/inference.py).
    Folding reads the weights once: an exported graph's, not one a training step changes.
    """

    def __init__(
        self, model: StreamingWakeWordModel, window_samples: int, chunk_steps: int = CHUNK_STEPS, *, fold: bool = False
    ) -> None:
        super().__init__()
        self.features = model.features
        self.net = model.net
        self.pool = pool_frames(model.preset, window_samples)
        self.stem_context = self.net.stem_kernel - self.net.stride
        # The chunk is fixed: its lengths go into the graph as constants, not as shape arithmetic run every call.
        self.samples = AUDIO_CONTEXT + chunk_steps * step_samples(model.preset)
        self.frames = chunk_steps * self.net.stride
        self.fold = fold
        if fold:
            self._fold()

    @torch.no_grad()
    def _fold(self) -> None:
        net = self.net
        # The input norm is per band and the stem conv unpadded, so it folds into the stem exactly.
        norm = net.input_norm
        in_scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        in_shift = norm.bias - norm.running_mean * in_scale
        conv = net.stem[0]
        weight, bias = _folded(conv, net.stem[1])
        self.stem = nn.Conv1d(conv.in_channels, conv.out_channels, conv.kernel_size[0], stride=conv.stride[0])
        self.stem.weight.copy_(weight * in_scale[None, :, None])
        self.stem.bias.copy_(bias + (weight * in_shift[None, :, None]).sum(dim=(1, 2)))
        self.depthwise = nn.ModuleList()
        self.merged = nn.ModuleList()
        for block in net.body:
            dw = block.depthwise[0]
            weight, bias = _folded(dw, block.depthwise[1])
            depthwise = nn.Conv1d(
                dw.in_channels, dw.out_channels, dw.kernel_size[0], dilation=dw.dilation[0], groups=dw.groups
            )
            depthwise.weight.copy_(weight)
            depthwise.bias.copy_(bias)
            self.depthwise.append(depthwise)
            pw_weight, pw_bias = _folded(block.pointwise[0], block.pointwise[1])
            cout, cin = pw_weight.shape[:2]
            if isinstance(block.shortcut, nn.Identity):
                sc_weight, sc_bias = torch.eye(cout)[:, :, None], torch.zeros(cout)
            else:
                sc_weight, sc_bias = _folded(block.shortcut[0], block.shortcut[1])
            merged = nn.Conv1d(2 * cin, cout, 1)
            merged.weight.copy_(torch.cat([pw_weight, sc_weight], dim=1))
            merged.bias.copy_(pw_bias + sc_bias)
            self.merged.append(merged)

    def forward(self, audio: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(audio [batch, steps x step], states…) -> (probability [batch, steps], next states…)."""
        net = self.net
        next_states: list[torch.Tensor] = []
        x = torch.cat([states[0], audio], dim=1)
        next_states.append(x[:, -AUDIO_CONTEXT:])
        x = self.features.of_length(x, self.samples, self.frames)
        if not self.fold:
            x = net.input_norm(x)
        x = torch.cat([states[1], x], dim=2)
        next_states.append(x[:, :, -self.stem_context :])
        x = torch.relu(self.stem(x)) if self.fold else net.stem(x)
        for index, block in enumerate(net.body):
            full = torch.cat([states[2 + index], x], dim=2)
            next_states.append(full[:, :, -block.context :])
            # CausalBlock.forward with its residual read from the new frames, which are that tail.
            if self.fold:
                hidden = torch.relu(self.depthwise[index](full))
                x = torch.relu(self.merged[index](torch.cat([hidden, x], dim=1)))
            else:
                x = torch.relu(block.pointwise(block.depthwise(full)) + block.shortcut(x))
        if self.pool > 1:
            x = torch.cat([states[-1], x], dim=2)
            next_states.append(x[:, :, -(self.pool - 1) :])
        # A running mean and max over the last `pool` outputs: the windowed form's pooling, once per step.
        mean = nn.functional.avg_pool1d(x, self.pool, stride=1)
        peak = nn.functional.max_pool1d(x, self.pool, stride=1)
        logits = net.head(torch.cat([mean, peak], dim=1).transpose(1, 2)).squeeze(2)
        return (torch.sigmoid(logits), *next_states)


def zero_states(stream: StreamContract, batch: int = 1, device: torch.device | None = None) -> list[torch.Tensor]:
    """The states a stream (or `batch` streams side by side) starts from."""
    return [torch.zeros((batch, *spec.shape[1:]), device=device) for spec in stream.states]


def export_streaming(
    model: StreamingWakeWordModel, window_samples: int, export_dir: Path, check_audio: np.ndarray
) -> dict[str, float]:
    """Write the streaming ONNX graphs (fp32 and int8) of a trained model and check them against the windowed form
    on `check_audio` (one stream, several windows long); returns the parity figures."""
    stream = contract(model.preset, window_samples)
    steps = stream.chunk_samples // stream.step_samples
    form = StreamingForm(model.to("cpu").eval(), window_samples, steps, fold=True).eval()
    example = (torch.zeros(1, stream.chunk_samples), *zero_states(stream))
    with torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter is deprecated but is what the conv1d log-mel exports through (export.py).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            form,
            example,
            str(export_dir / STREAM_ONNX),
            dynamo=False,
            opset_version=17,
            input_names=[stream.audio_input, *(spec.input for spec in stream.states)],
            output_names=[stream.probability_output, *(spec.output for spec in stream.states)],
            external_data=False,
        )
    parity = streaming_parity(model, window_samples, export_dir, stream, check_audio)
    parity.update(_quantize(export_dir, stream, check_audio))
    return parity


def windowed_step_scores(
    model: StreamingWakeWordModel, window_samples: int, audio: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores) of the windowed form on the window ending at each of the first `steps` steps of the
    stream that is fully inside it."""
    covered = covered_samples(model.preset, window_samples)
    step = step_samples(model.preset)
    # As StreamScorer.scores: a last, partial step is scored with silence after the audio.
    audio = np.concatenate([audio, np.zeros(max(0, steps * step - audio.size), dtype=np.float32)])
    indices = np.arange(steps)
    indices = indices[(indices + 1) * step >= covered]
    windows = np.zeros((indices.size, window_samples), dtype=np.float32)
    for row, index in enumerate(indices):
        end = (index + 1) * step
        # The window's samples past `covered` are never read: zeros show it.
        windows[row, :covered] = audio[end - covered : end]
    with torch.no_grad():
        scores = torch.cat([model(torch.from_numpy(windows[i : i + 256])) for i in range(0, len(windows), 256)])
    return indices, scores.numpy()


def streaming_parity(
    model: StreamingWakeWordModel, window_samples: int, export_dir: Path, stream: StreamContract, audio: np.ndarray
) -> dict[str, float]:
    """How far the streaming graph's score at each step is from the windowed model's on that step's window; raise
    RuntimeError past PARITY_TOLERANCE."""
    model = model.to("cpu").eval()
    streamed = StreamScorer(export_dir, stream.to_dict()).scores(audio)
    indices, windowed = windowed_step_scores(model, window_samples, audio, streamed.size)
    if indices.size == 0:
        raise ValueError(f"the check audio ({audio.size} samples) is shorter than one window")
    diff = float(np.max(np.abs(streamed[indices] - windowed)))
    if not diff <= PARITY_TOLERANCE:
        raise RuntimeError(
            f"streaming export parity failed: {diff:.3g} over {indices.size} steps (tolerance {PARITY_TOLERANCE})"
        )
    return {"parity_max_abs_diff_streaming": diff, "parity_streaming_steps": float(indices.size)}


def _quantize(export_dir: Path, stream: StreamContract, audio: np.ndarray) -> dict[str, float]:
    """Write the int8 streaming graph (static, calibrated on the states and chunks of `audio`) and compare it."""
    fp32 = StreamScorer(export_dir, stream.to_dict())
    feeds: list[dict[str, np.ndarray]] = []
    usable = audio.size - audio.size % stream.chunk_samples
    for start in range(0, usable, stream.chunk_samples):
        chunk = audio[start : start + stream.chunk_samples]
        feeds.append({stream.audio_input: chunk[None, :].astype(np.float32), **fp32.states})
        fp32.feed(chunk)
    quantize_graph(export_dir / STREAM_ONNX, export_dir / STREAM_ONNX_INT8, feeds)
    full = fp32.scores(audio)
    int8 = StreamScorer(export_dir, stream.to_dict(), onnx=STREAM_ONNX_INT8).scores(audio)
    return {
        "streaming_int8_max_abs_diff": float(np.max(np.abs(int8 - full))),
        "streaming_onnx_bytes": float((export_dir / STREAM_ONNX).stat().st_size),
        "streaming_onnx_int8_bytes": float((export_dir / STREAM_ONNX_INT8).stat().st_size),
    }
