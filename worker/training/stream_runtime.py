"""Running a streaming export (model.streaming.onnx) over audio: onnxruntime and numpy only.

The graph takes a fixed chunk of audio and the states its previous call returned, and gives one probability per
step of the chunk: the score of the window that ends with that step. This module keeps the states and the audio
that does not yet fill a chunk between calls.
"""

# No torch here: worker/detect.py uses this on devices that have onnxruntime alone.

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

STREAMING_KEY = "streaming"
"""The key of config.json that holds the streaming contract (worker/training/stream_export.py)."""


def streaming_contract(export_dir: Path) -> dict[str, Any] | None:
    """The streaming contract in an export folder's config.json, or None for a model without a streaming form."""
    config = export_dir / "config.json"
    if not config.is_file():
        return None
    try:
        contract = json.loads(config.read_text()).get(STREAMING_KEY)
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(contract, dict) or not (export_dir / str(contract.get("onnx", ""))).is_file():
        return None
    return contract


def first_whole_step(window_samples: int, step_samples: int) -> int:
    """The index of the first step of a stream whose window lies wholly inside it: the steps before it also hear the
    zero states a stream starts from, which no window of the windowed model does."""
    return -(-window_samples // step_samples) - 1


class StreamScorer:
    """Feeds 16 kHz mono audio of any length through the streaming graph; keeps its states between calls."""

    def __init__(self, export_dir: Path, contract: dict[str, Any], *, threads: int = 1, onnx: str | None = None):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        path = export_dir / (onnx or contract["onnx"])
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.step_samples = int(contract["step_samples"])
        self.chunk_samples = int(contract["chunk_samples"])
        self.window_samples = int(contract["window_samples"])
        self.audio_input = str(contract["audio_input"])
        self.output_names = [str(contract["probability_output"])] + [str(s["output"]) for s in contract["states"]]
        self.state_specs = [(str(s["input"]), tuple(int(d) for d in s["shape"])) for s in contract["states"]]
        self.reset()

    def reset(self) -> None:
        """Start a new stream: zero states, nothing buffered."""
        self.states = {name: np.zeros(shape, dtype=np.float32) for name, shape in self.state_specs}
        self.pending = np.zeros(0, dtype=np.float32)

    def feed(self, audio: np.ndarray) -> np.ndarray:
        """The probabilities of the steps that this audio completes (a chunk at a time), in order."""
        audio = np.concatenate([self.pending, np.asarray(audio, dtype=np.float32).reshape(-1)])
        usable = audio.size - audio.size % self.chunk_samples
        parts = [self._run(audio[start : start + self.chunk_samples]) for start in range(0, usable, self.chunk_samples)]
        self.pending = audio[usable:]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def scores(self, audio: np.ndarray) -> np.ndarray:
        """One score per step of a whole stream from its start; its last partial chunk padded with silence."""
        self.reset()
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        steps = -(-audio.size // self.step_samples)
        padded = np.zeros(-(-audio.size // self.chunk_samples) * self.chunk_samples, dtype=np.float32)
        padded[: audio.size] = audio
        return self.feed(padded)[:steps]

    def first_whole_step(self) -> int:
        """The first step whose window lies wholly inside the stream (the ones before also hear its zero start)."""
        return first_whole_step(self.window_samples, self.step_samples)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        outputs = self.session.run(self.output_names, {self.audio_input: chunk[None, :], **self.states})
        self.states = {name: value for (name, _), value in zip(self.state_specs, outputs[1:], strict=True)}
        return np.asarray(outputs[0], dtype=np.float32).reshape(-1)
