"""Streaming detection: a window every hop, the refractory rule, near misses, and a model swapped between two hops.

A streaming model (model.streaming.onnx) is run a chunk at a time instead, each of its steps judged as a hop.
"""

# The rule is the service's (worker/detect.py with worker/training/streaming.py), written again here so that a device
# needs neither: windows of the model's length ending every hop_s from the first full window on, the stream's last
# samples scored in one zero-padded window at its end, a detection when score >= threshold and at least refractory_s
# (in whole hops) after the last one, its time the end of the window. A streaming model's score at a step is its
# windowed form's on the window ending there, from its first whole window on; the stream's last, partial chunk is
# padded with silence. tests/test_edge_detector.py checks the parity for both.

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from wake_edge.bundle import Bundle
from wake_edge.manifest import DEFAULT_HOP_S, DEFAULT_NEAR_MISS_RATIO, DEFAULT_REFRACTORY_S
from wake_edge.model import SAMPLE_RATE, Model
from wake_edge.stream_buffer import StreamBuffer
from wake_edge.streaming_model import StreamingModel, StreamState

MAX_BATCH = 32
# Audio kept before the next window: enough for a swap to a model with a longer window (up to 2 s) to start whole.
KEEP_SAMPLES = 2 * SAMPLE_RATE


@dataclass(frozen=True)
class Rule:
    """When a score counts as a detection, and as a near miss."""

    threshold: float
    hop_s: float = DEFAULT_HOP_S
    refractory_s: float = DEFAULT_REFRACTORY_S
    near_miss_ratio: float = DEFAULT_NEAR_MISS_RATIO

    @functools.cached_property
    def hop_samples(self) -> int:
        """The hop in samples (at least one)."""
        return max(1, round(self.hop_s * SAMPLE_RATE))

    @functools.cached_property
    def refractory_hops(self) -> int:
        """Hops after a detection before the next can count: streaming.refractory_hops's rule."""
        # The epsilon keeps 1.0 / 0.1 = 10.000000000000002 at 10 hops, not 11.
        return max(1, math.ceil(self.refractory_s / self.hop_s - 1e-9))


@dataclass(frozen=True)
class Scorer:
    """What a detector runs: a model, its rule, and which deployment version it is (for reports and logs)."""

    model: Model | StreamingModel
    rule: Rule
    name: str = ""
    version: int | None = None
    sha256: str | None = None
    report_audio: bool = False

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> Scorer:
        """The scorer of an installed bundle, with the manifest's rule."""
        manifest = bundle.manifest
        rule = Rule(manifest.threshold, manifest.hop_s, manifest.refractory_s, manifest.near_miss_ratio)
        return cls(
            bundle.model, rule, manifest.deployment, manifest.version, manifest.model.sha256, manifest.report_audio
        )

    @property
    def label(self) -> str:
        """`kitchen v3`, or the model file's name."""
        return f"{self.name} v{self.version}" if self.version is not None else self.model.path.name


@dataclass(frozen=True)
class Hop:
    """One scored window: where it ends in the stream (samples), its score, and which scorer gave it."""

    end_sample: int
    score: float
    scorer: Scorer


@dataclass(frozen=True)
class WakeEvent:
    """A detection, or a near miss (the top of a stretch that came close without firing)."""

    kind: str  # "detection" | "near_miss"
    time_s: float
    score: float
    end_sample: int
    window_samples: int
    scorer: Scorer

    @property
    def threshold(self) -> float:
        """The threshold it was judged against."""
        return self.scorer.rule.threshold


@dataclass
class _Stretch:
    top_score: float
    top_end: int
    top_time_s: float
    window_samples: int
    scorer: Scorer
    fired: bool


class StreamDetector:
    """Scores a 16 kHz mono float32 stream fed in blocks of any size, from one thread; swap() from any thread."""

    def __init__(
        self,
        scorer: Scorer,
        *,
        max_batch: int = MAX_BATCH,
        on_hop: Callable[[Hop], None] | None = None,
    ) -> None:
        self._scorer = scorer
        self._pending: Scorer | None = None
        self._lock = threading.Lock()
        self.max_batch = max_batch
        self.on_hop = on_hop
        self._buffer = StreamBuffer()
        self._next_end = scorer.model.window_samples
        self._scored_end = 0
        self._last_detection_end: int | None = None
        self._stretch: _Stretch | None = None
        self._stream: StreamState | None = None
        self._stream_model: StreamingModel | None = None

    @property
    def scorer(self) -> Scorer:
        """The scorer of the last scored hop (a pending swap not yet taken)."""
        return self._scorer

    @property
    def position(self) -> int:
        """Samples fed so far."""
        return self._buffer.end

    def swap(self, scorer: Scorer) -> None:
        """Run `scorer` from the next hop on; the audio already fed is kept and nothing is scored twice."""
        with self._lock:
            self._pending = scorer

    def feed(self, samples: np.ndarray) -> list[WakeEvent]:
        """Take the next block of the stream; returns the detections and near misses it completed."""
        block = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._buffer.append(block)
        events: list[WakeEvent] = []
        while True:
            scorer = self._take_pending()
            scored = self._next_chunk(scorer, events) if scorer.model.streaming else self._next_windows(scorer, events)
            if not scored:
                return events

    def _next_windows(self, scorer: Scorer, events: list[WakeEvent]) -> bool:
        """Score the next batch of whole windows fed so far; False when there is none."""
        total = self._buffer.end
        window, hop = scorer.model.window_samples, scorer.rule.hop_samples
        if self._next_end > total:
            return False
        count = min(self.max_batch, (total - self._next_end) // hop + 1)
        ends = self._next_end + hop * np.arange(count)
        scores = scorer.model.score(self._windows(self._next_end - window, window, hop, count))
        for end, score in zip(ends.tolist(), scores.tolist(), strict=True):
            self._judge(scorer, end, end, float(score), events)
        self._scored_end = int(ends[-1])
        self._next_end = self._scored_end + hop
        self._buffer.drop_before(self._next_end - max(window, KEEP_SAMPLES))
        return True

    def _stream_of(self, model: StreamingModel) -> StreamState:
        """This stream's state in a streaming model, started when the model is new to it (the start or a swap)."""
        if self._stream is None or self._stream_model is not model:
            # From far enough back that its first whole window ends where the last model stopped scoring: the audio
            # is still in the buffer (KEEP_SAMPLES), so a swap leaves no gap, and no step is scored twice.
            back = (model.first_whole_step + 1) * model.step_samples
            self._stream = model.start(max(self._buffer.start, self._scored_end - back))
            self._stream_model = model
        return self._stream

    def _next_chunk(self, scorer: Scorer, events: list[WakeEvent]) -> bool:
        """Run a streaming model on the next whole chunk fed so far; False when there is none."""
        model = scorer.model
        stream = self._stream_of(model)
        position = stream.origin + stream.fed
        if position + model.chunk_samples > self._buffer.end:
            return False
        scores = model.run(stream, self._buffer.view(position, position + model.chunk_samples))
        self._judge_steps(scorer, stream, scores, self._buffer.end, events)
        self._buffer.drop_before(stream.origin + stream.fed - KEEP_SAMPLES)
        return True

    def _judge_steps(
        self, scorer: Scorer, stream: StreamState, scores: np.ndarray, total: int, events: list[WakeEvent]
    ) -> None:
        model = scorer.model
        first = stream.steps - scores.size
        for index, score in enumerate(scores.tolist(), start=first):
            end = stream.origin + (index + 1) * model.step_samples
            if index < model.first_whole_step or end <= self._scored_end:
                continue
            # On the step grid for the refractory rule; at the stream's end for the time of a last, partial step.
            self._judge(scorer, end, min(end, total), float(score), events)
            self._scored_end = end
        self._next_end = self._scored_end + scorer.rule.hop_samples

    def finish(self) -> list[WakeEvent]:
        """End of the stream: score its last samples in one zero-padded window, close an open near-miss stretch."""
        events: list[WakeEvent] = []
        scorer = self._take_pending()
        total = self._buffer.end
        if scorer.model.streaming:
            self._finish_chunk(scorer, total, events)
        elif total > self._scored_end:
            window = scorer.model.window_samples
            score = float(scorer.model.score(self._windows(self._next_end - window, window, 1, 1))[0])
            # On the hop grid for the refractory rule, at the stream's end for the time (as the service's detect).
            self._judge(scorer, self._next_end, total, score, events)
            self._scored_end = total
        if self._stretch is not None:
            self._close_stretch(events)
        return events

    def _finish_chunk(self, scorer: Scorer, total: int, events: list[WakeEvent]) -> None:
        """A streaming model's last, partial chunk: silence after the stream, its steps up to the stream's end."""
        model = scorer.model
        stream = self._stream_of(model)
        position = stream.origin + stream.fed
        if total <= position:
            return
        chunk = np.zeros(model.chunk_samples, dtype=np.float32)
        tail = self._buffer.view(position, total)
        chunk[: tail.size] = tail
        scores = model.run(stream, chunk)
        # As the service's detect: the steps that end in the stream, and the one it ends in.
        last = -(-(total - stream.origin) // model.step_samples) - 1
        keep = scores.size - (stream.steps - 1 - last)
        stream.steps -= scores.size - keep
        self._judge_steps(scorer, stream, scores[:keep], total, events)

    def _take_pending(self) -> Scorer:
        with self._lock:
            if self._pending is not None:
                self._scorer, self._pending = self._pending, None
            return self._scorer

    def _windows(self, start: int, window: int, hop: int, count: int) -> np.ndarray:
        """`count` windows of `window` samples from stream position `start`, `hop` apart; zeros outside the audio."""
        stop = start + (count - 1) * hop + window
        segment = self._buffer.view(start, stop)
        if segment.size != stop - start:
            # Before the stream's first samples (a swap to a longer window) or past its end (the last window).
            padded = np.zeros(stop - start, dtype=np.float32)
            offset = max(0, self._buffer.start - start)
            padded[offset : offset + segment.size] = segment
            segment = padded
        if count == 1:  # live audio: one window a hop, no strided view needed
            return segment[None, :window]
        return sliding_window_view(segment, window)[::hop][:count]

    def _judge(self, scorer: Scorer, grid_end: int, end: int, score: float, events: list[WakeEvent]) -> None:
        rule, window = scorer.rule, scorer.model.window_samples
        if self.on_hop is not None:
            self.on_hop(Hop(end, score, scorer))
        time_s = end / SAMPLE_RATE
        gap = rule.refractory_hops * rule.hop_samples
        # As streaming.count_detections: compared in float64, the first hit past the refractory period counts.
        fired = score >= rule.threshold and (
            self._last_detection_end is None or grid_end - self._last_detection_end >= gap
        )
        if fired:
            self._last_detection_end = grid_end
            events.append(WakeEvent("detection", time_s, score, end, window, scorer))
        if score >= rule.near_miss_ratio * rule.threshold:
            stretch = self._stretch
            if stretch is None:
                self._stretch = _Stretch(score, end, time_s, window, scorer, fired=False)
            elif score > stretch.top_score:
                stretch.top_score, stretch.top_end, stretch.top_time_s = score, end, time_s
                stretch.window_samples, stretch.scorer = window, scorer
            # A stretch that reaches the threshold is the wake word heard (held, or inside the refractory period).
            if score >= rule.threshold and self._stretch is not None:
                self._stretch.fired = True
        elif self._stretch is not None:
            self._close_stretch(events)

    def _close_stretch(self, events: list[WakeEvent]) -> None:
        stretch, self._stretch = self._stretch, None
        if stretch is not None and not stretch.fired:
            events.append(
                WakeEvent(
                    "near_miss",
                    stretch.top_time_s,
                    stretch.top_score,
                    stretch.top_end,
                    stretch.window_samples,
                    stretch.scorer,
                )
            )
