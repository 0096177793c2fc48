"""A streaming model (model.streaming.onnx) on onnxruntime: a chunk of new audio and the last states in, a score for
each 30-ms step and the next states out.

The contract (the `streaming` object of the export's config.json, also carried in a bundle's manifest) names the
tensors, their shapes and the step and chunk lengths. The model is shared by every stream that runs it (Wyoming
clients, a swap); each stream keeps its own states (StreamState).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wake_edge.contract import check_contract
from wake_edge.model import ModelError, first_line, open_session


@dataclass
class StreamState:
    """One stream through a streaming model: its tensors' states and the steps it has scored."""

    states: dict[str, np.ndarray]
    steps: int = 0
    origin: int = 0
    """The stream position (samples) where this model's stream began."""
    fed: int = field(default=0)
    """Samples of the stream fed to the model so far (a whole number of chunks)."""


class StreamingModel:
    """One streaming ONNX graph with its contract; runs chunks for any number of StreamStates."""

    streaming = True

    def __init__(self, path: str | Path, contract: dict[str, Any], *, threads: int = 1) -> None:
        self.path = Path(path)
        try:
            self.contract = check_contract(contract)
        except ValueError as exc:
            raise ModelError(str(exc)) from exc
        self.session = open_session(self.path, threads)
        self.step_samples = int(contract["step_samples"])
        self.chunk_samples = int(contract["chunk_samples"])
        self.window_samples = int(contract["window_samples"])
        self.window_source = "streaming contract"
        self.audio_input = str(contract["audio_input"])
        self.state_shapes = {str(s["input"]): tuple(int(d) for d in s["shape"]) for s in contract["states"]}
        self.outputs = [str(contract["probability_output"])] + [str(s["output"]) for s in contract["states"]]
        # The steps before this one also hear the zero states a stream starts from: they are not scored.
        self.first_whole_step = -(-self.window_samples // self.step_samples) - 1

    def start(self, origin: int = 0) -> StreamState:
        """A new stream from stream position `origin`, from zero states."""
        return StreamState(
            {name: np.zeros(shape, dtype=np.float32) for name, shape in self.state_shapes.items()}, 0, origin
        )

    def run(self, stream: StreamState, chunk: np.ndarray) -> np.ndarray:
        """Score one chunk of `chunk_samples` for this stream: its steps' probabilities; the states move on."""
        outputs = self.session.run(
            self.outputs, {self.audio_input: np.ascontiguousarray(chunk, dtype=np.float32)[None, :], **stream.states}
        )
        stream.states = dict(zip(self.state_shapes, outputs[1:], strict=True))
        scores = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        stream.steps += scores.size
        stream.fed += chunk.size
        return scores

    def check(self) -> float:
        """Score one silent chunk, as a device does before trusting a model; ModelError if it cannot."""
        try:
            scores = self.run(self.start(), np.zeros(self.chunk_samples, dtype=np.float32))
        except Exception as exc:  # a graph that loads but fails at run time (bad shapes, missing ops)
            raise ModelError(f"{self.path.name} fails on a silent chunk: {first_line(exc)}") from exc
        expected = self.chunk_samples // self.step_samples
        if scores.size != expected or not all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores.tolist()):
            raise ModelError(
                f"{self.path.name} gives {scores.tolist()} for a silent chunk, not {expected} probabilities"
            )
        return float(scores[-1])
