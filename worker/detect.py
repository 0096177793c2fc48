"""Running an exported wake-word model on a WAV file or a microphone: onnxruntime, numpy and soundfile only."""

# No torch here: this module is what an edge device runs, as `wake-training detect` or `python -m worker.detect`.

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort
import soundfile as sf

from worker.training import streaming
from worker.training.stream_runtime import StreamScorer, streaming_contract

SAMPLE_RATE = 16_000
HOP_S = 0.1
DEFAULT_WINDOW_S = 1.0
DEFAULT_THRESHOLD = 0.5
DEFAULT_REFRACTORY_S = 1.0
CONFIG = "config.json"
METRICS = "metrics.json"
CHUNK = 256


class Detection(NamedTuple):
    """A wake word heard: when (the end of the window that fired, as a live detector would) and how sure."""

    time_s: float
    score: float


class MicrophoneUnavailable(RuntimeError):
    """Live mode needs the optional `sounddevice` package (and PortAudio), which is not installed."""


class WakeWordDetector:
    """An exported ONNX wake-word model with its window length and threshold, scoring 16 kHz mono audio."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        threshold: float | None = None,
        refractory_s: float = DEFAULT_REFRACTORY_S,
        hop_s: float = HOP_S,
        threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        # A streaming export is run in its streaming form, every step (hop_s is then the step), unless the path
        # names another graph of the folder (model.int8.onnx: the windowed int8 one).
        self.stream: StreamScorer | None = None
        contract = streaming_contract(self.model_path.parent)
        if contract is not None and self.model_path.name in ("model.onnx", contract["onnx"], contract["onnx_int8"]):
            graph = contract["onnx_int8"] if self.model_path.name == contract["onnx_int8"] else contract["onnx"]
            self.stream = StreamScorer(self.model_path.parent, contract, threads=threads or 1, onnx=graph)
            self.model_path = self.model_path.parent / "model.onnx"
            hop_s = self.stream.step_samples / SAMPLE_RATE
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        audio_input = next((i for i in inputs if i.name == "audio"), inputs[0])
        self.input_name: str = audio_input.name
        self.output_name: str = self.session.get_outputs()[0].name
        batch, samples = [*audio_input.shape, None, None][:2]
        # A model exported with a fixed batch (1 on some edge runtimes) is fed exactly that many windows.
        self.static_batch: int | None = batch if isinstance(batch, int) and batch > 0 else None
        self.window_samples, self.window_source = _window_samples(self.model_path, samples)
        if threshold is None:
            self.threshold, self.threshold_source = _saved_threshold(self.model_path)
        else:
            self.threshold, self.threshold_source = float(threshold), "given"
        self.refractory_s = float(refractory_s)
        self.hop_s = float(hop_s)
        self.hop_samples = round(self.hop_s * SAMPLE_RATE)
        if self.hop_samples <= 0:
            raise ValueError(f"hop_s must be at least one sample, got {hop_s}")
        # Where the first score's window ends: a stream's first whole window, rounded up to a step when streaming.
        self.first_end_samples = self.window_samples
        if self.stream is not None:
            self.window_samples = self.stream.window_samples
            self.first_step = self.stream.first_whole_step()
            self.first_end_samples = (self.first_step + 1) * self.stream.step_samples

    def score_windows(self, windows: np.ndarray) -> np.ndarray:
        """The wake probability of each window in a batch [n, window_samples]."""
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

    def scores(self, audio: np.ndarray) -> np.ndarray:
        """One score per hop over a 16 kHz mono stream (per step of a streaming model, from its first whole window)."""
        if self.stream is not None:
            return self.stream.scores(audio)[self.first_step :]
        batch = self.static_batch
        chunk = CHUNK if batch is None else batch * max(1, CHUNK // batch)
        return streaming.stream_scores(
            self.score_windows, audio, window=self.window_samples, hop=self.hop_samples, chunk=chunk
        )

    def detect(self, audio: np.ndarray) -> list[Detection]:
        """The detections in a 16 kHz mono stream, a refractory period apart."""
        scores = self.scores(audio)
        indices = streaming.count_detections(scores, self.threshold, hop_s=self.hop_s, refractory_s=self.refractory_s)
        duration_s = len(audio) / SAMPLE_RATE
        return [Detection(self.window_end_s(index, duration_s), float(scores[index])) for index in indices]

    def clip_max_scores(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Each clip's highest score over the windows that start in it (silence after it), as scores() slides them."""
        if self.stream is None:
            return streaming.clip_max_scores(
                self.score_windows, clips, window=self.window_samples, hop=self.hop_samples
            )
        highest = []
        for clip in clips:
            padded = np.concatenate([np.asarray(clip, dtype=np.float32), np.zeros(self.window_samples, np.float32)])
            # Steps whose window starts inside the clip: up to the one ending a window past its last sample.
            last = (len(clip) - 1 + self.window_samples) // self.hop_samples - 1
            highest.append(float(self.stream.scores(padded)[self.first_step : max(self.first_step, last) + 1].max()))
        return np.asarray(highest, dtype=np.float32)

    def window_end_s(self, index: int, duration_s: float = math.inf) -> float:
        """When the window at position `index` ends, in seconds (the last, padded one ends with the audio)."""
        return min((index * self.hop_samples + self.first_end_samples) / SAMPLE_RATE, duration_s)

    def _run(self, windows: np.ndarray) -> np.ndarray:
        out = self.session.run([self.output_name], {self.input_name: windows})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(windows), -1)[:, 0]


def read_audio(path: str | Path) -> np.ndarray:
    """A sound file as 16 kHz mono float32: channels averaged, other rates resampled."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1, dtype=np.float32)
    return resample(mono, rate)


def resample(audio: np.ndarray, rate: int) -> np.ndarray:
    """Mono audio at `rate` resampled to 16 kHz (soxr, else scipy)."""
    if rate == SAMPLE_RATE:
        return np.ascontiguousarray(audio, dtype=np.float32)
    try:
        import soxr

        return np.asarray(soxr.resample(audio, rate, SAMPLE_RATE), dtype=np.float32)
    except ImportError:
        from scipy.signal import resample_poly

        divisor = math.gcd(int(rate), SAMPLE_RATE)
        return resample_poly(audio, SAMPLE_RATE // divisor, int(rate) // divisor).astype(np.float32)


def detect_file(
    model_path: str | Path,
    audio_path: str | Path,
    *,
    threshold: float | None = None,
    refractory_s: float = DEFAULT_REFRACTORY_S,
) -> list[Detection]:
    """The detections of the model in a sound file, as (time_s, score)."""
    detector = WakeWordDetector(model_path, threshold=threshold, refractory_s=refractory_s)
    return detector.detect(read_audio(audio_path))


def listen(
    detector: WakeWordDetector,
    on_detection: Callable[[Detection], None],
    *,
    device: int | str | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Score the microphone live, one hop at a time, calling on_detection for each detection until stopped."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there but PortAudio is not
        raise MicrophoneUnavailable(
            f"live microphone mode needs the `sounddevice` package and PortAudio ({exc}); "
            "install them with `pip install sounddevice`, or pass a WAV file instead"
        ) from exc
    stop = stop or threading.Event()
    gap = streaming.refractory_hops(hop_s=detector.hop_s, refractory_s=detector.refractory_s)
    buffer = np.zeros(detector.window_samples, dtype=np.float32)
    hop, position, last = detector.hop_samples, 0, -gap
    # A streaming model takes a chunk of several steps a call; a windowed one a window every hop.
    block_samples = hop if detector.stream is None else detector.stream.chunk_samples
    if detector.stream is not None:
        detector.stream.reset()
    with sounddevice.InputStream(
        samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=block_samples, device=device
    ) as stream:
        while not stop.is_set():
            block, _overflowed = stream.read(block_samples)
            if detector.stream is None:
                buffer = np.concatenate([buffer[hop:], block[:, 0]])
                scores = detector.score_windows(buffer[None, :])
            else:
                scores = detector.stream.feed(block[:, 0])
            for score in scores.tolist():
                # The same rule as streaming.count_detections, so live behaviour matches the FA/h measured offline.
                if score >= detector.threshold and position - last >= gap:
                    last = position
                    on_detection(Detection((position + 1) * detector.hop_s, score))
                position += 1


def format_detection(detection: Detection) -> str:
    """One output line: `12.40s  score 0.973`."""
    return f"{detection.time_s:.2f}s  score {detection.score:.3f}"


def format_summary(detections: Sequence[Detection], detector: WakeWordDetector, duration_s: float) -> str:
    """The closing line: how many detections in how much audio, at which threshold from where."""
    noun = "detection" if len(detections) == 1 else "detections"
    return (
        f"{len(detections)} {noun} in {duration_s:.1f}s of audio "
        f"(threshold {detector.threshold:.3f} from {detector.threshold_source}, "
        f"refractory {detector.refractory_s:g}s, window {detector.window_samples / SAMPLE_RATE:g}s)"
    )


def _window_samples(model_path: Path, samples: Any) -> tuple[int, str]:
    if isinstance(samples, int) and samples > 0:
        return samples, "model input shape"
    config = _read_json(model_path.parent / CONFIG)
    window_s = config.get("window_s")
    if isinstance(window_s, int | float) and not isinstance(window_s, bool) and window_s > 0:
        return round(window_s * SAMPLE_RATE), CONFIG
    return round(DEFAULT_WINDOW_S * SAMPLE_RATE), "default"


def _saved_threshold(model_path: Path) -> tuple[float, str]:
    metrics = _read_json(model_path.parent / METRICS)
    calibration = metrics.get("calibration")
    for value in (metrics.get("threshold"), calibration.get("threshold") if isinstance(calibration, dict) else None):
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value), METRICS
    return DEFAULT_THRESHOLD, "default"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m worker.detect MODEL.onnx FILE.wav`, for a device with this package but not the API's."""
    parser = argparse.ArgumentParser(prog="python -m worker.detect", description=main.__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("audio", type=Path, nargs="?")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--refractory", type=float, default=DEFAULT_REFRACTORY_S)
    parser.add_argument("--mic", action="store_true")
    args = parser.parse_args(argv)
    return run(args.model, args.audio, threshold=args.threshold, refractory_s=args.refractory, mic=args.mic)


def run(
    model_path: Path,
    audio_path: Path | None,
    *,
    threshold: float | None,
    refractory_s: float,
    mic: bool,
    echo: Callable[..., None] = print,
) -> int:
    """What both command lines do: print a line per detection and a summary; returns the exit status."""
    if mic == (audio_path is not None):
        echo("give either a sound file or --mic", file=sys.stderr)
        return 2
    detector = WakeWordDetector(model_path, threshold=threshold, refractory_s=refractory_s)
    if mic:
        found: list[Detection] = []

        def report(detection: Detection) -> None:
            found.append(detection)
            echo(format_detection(detection))

        echo(f"listening (threshold {detector.threshold:.3f} from {detector.threshold_source}); Ctrl-C stops")
        try:
            listen(detector, report)
        except MicrophoneUnavailable as exc:
            echo(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            pass
        echo(f"{len(found)} detections")
        return 0
    assert audio_path is not None
    audio = read_audio(audio_path)
    detections = detector.detect(audio)
    for detection in detections:
        echo(format_detection(detection))
    echo(format_summary(detections, detector, len(audio) / SAMPLE_RATE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
