"""An exported wake-word model on onnxruntime: its window length and a batch of windows in, probabilities out."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

SAMPLE_RATE = 16_000
DEFAULT_WINDOW_S = 1.0
DEFAULT_THRESHOLD = 0.5
CONFIG = "config.json"
METRICS = "metrics.json"


class ModelError(Exception):
    """The file is not a model this runtime can run (not ONNX, wrong inputs, or it fails on audio)."""


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session of `threads` threads on the file; ModelError when onnxruntime cannot load it."""
    options = ort.SessionOptions()
    # One thread each: a board runs the audio, the poller and the model side by side on a few small cores.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types, not a common base
        raise ModelError(f"onnxruntime cannot load {path.name}: {first_line(exc)}") from exc


class Model:
    """One ONNX model taking raw 16 kHz float32 windows [batch, samples] and returning a wake probability each."""

    streaming = False

    def __init__(self, path: str | Path, *, window_s: float | None = None, threads: int = 1) -> None:
        self.path = Path(path)
        self.session = open_session(self.path, threads)
        inputs = self.session.get_inputs()
        if not inputs or not self.session.get_outputs():
            raise ModelError(f"{self.path.name} has no input or no output")
        audio_input = next((i for i in inputs if i.name == "audio"), inputs[0])
        self.input_name: str = audio_input.name
        self.output_name: str = self.session.get_outputs()[0].name
        batch, samples = [*audio_input.shape, None, None][:2]
        # A model exported with a fixed batch (1 on some edge runtimes) is fed exactly that many windows.
        self.static_batch: int | None = batch if isinstance(batch, int) and batch > 0 else None
        if isinstance(samples, int) and samples > 0:
            self.window_samples, self.window_source = samples, "model input shape"
        elif window_s is not None and window_s > 0:
            self.window_samples, self.window_source = round(window_s * SAMPLE_RATE), "manifest"
        else:
            configured = _number(read_json(self.path.parent / CONFIG).get("window_s"))
            if configured is not None and configured > 0:
                self.window_samples, self.window_source = round(configured * SAMPLE_RATE), CONFIG
            else:
                self.window_samples, self.window_source = round(DEFAULT_WINDOW_S * SAMPLE_RATE), "default"

    def score(self, windows: np.ndarray) -> np.ndarray:
        """The wake probability of each window in a float32 batch [n, window_samples]."""
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        if self.static_batch is None:
            return self._run(windows)
        parts = []
        for start in range(0, len(windows), self.static_batch):
            group = windows[start : start + self.static_batch]
            padded = np.zeros((self.static_batch, windows.shape[1]), dtype=np.float32)
            padded[: len(group)] = group
            parts.append(self._run(padded)[: len(group)])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def check(self) -> float:
        """Score one silent window, as a device does before trusting a model; ModelError if it cannot."""
        try:
            scores = self.score(np.zeros((1, self.window_samples), dtype=np.float32))
        except Exception as exc:  # a graph that loads but fails at run time (bad shapes, missing ops)
            raise ModelError(f"{self.path.name} fails on a silent window: {first_line(exc)}") from exc
        if scores.size != 1 or not math.isfinite(float(scores[0])) or not 0.0 <= float(scores[0]) <= 1.0:
            raise ModelError(f"{self.path.name} gives {scores.tolist()} for a silent window, not one probability")
        return float(scores[0])

    def _run(self, windows: np.ndarray) -> np.ndarray:
        out = self.session.run([self.output_name], {self.input_name: windows})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(windows), -1)[:, 0]


def saved_threshold(model_path: Path) -> tuple[float, str]:
    """The calibrated threshold that a job's export keeps in metrics.json beside the model, else 0.5."""
    metrics = read_json(model_path.parent / METRICS)
    calibration = metrics.get("calibration")
    for value in (metrics.get("threshold"), calibration.get("threshold") if isinstance(calibration, dict) else None):
        number = _number(value)
        if number is not None:
            return number, METRICS
    return DEFAULT_THRESHOLD, "default"


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or {} when it is missing or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
