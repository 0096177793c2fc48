"""Streaming detection: a window every hop, the refractory rule, near misses, and a model swapped between two hops."""

# The rule is the service's (worker/detect.py with worker/training/streaming.py), written again here so that a device
# needs neither: windows of the model's length ending every hop_s from the first full window on, the stream's last
# samples scored in one zero-padded window at its end, a detection when score >= threshold and at least refractory_s
# (in whole hops) after the last one, its time the end of the window. tests/test_edge_detector.py checks the parity.

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

    model: Model
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
        total = self._buffer.end
        events: list[WakeEvent] = []
        while True:
            scorer = self._take_pending()
            window, hop = scorer.model.window_samples, scorer.rule.hop_samples
            if self._next_end > total:
                break
            count = min(self.max_batch, (total - self._next_end) // hop + 1)
            ends = self._next_end + hop * np.arange(count)
            scores = scorer.model.score(self._windows(self._next_end - window, window, hop, count))
            for end, score in zip(ends.tolist(), scores.tolist(), strict=True):
                self._judge(scorer, end, end, float(score), events)
            self._scored_end = int(ends[-1])
            self._next_end = self._scored_end + hop
            self._buffer.drop_before(self._next_end - max(window, KEEP_SAMPLES))
        return events

    def finish(self) -> list[WakeEvent]:
        """End of the stream: score its last samples in one zero-padded window, close an open near-miss stretch."""
        events: list[WakeEvent] = []
        scorer = self._take_pending()
        total = self._buffer.end
        if total > self._scored_end:
            window = scorer.model.window_samples
            score = float(scorer.model.score(self._windows(self._next_end - window, window, 1, 1))[0])
            # On the hop grid for the refractory rule, at the stream's end for the time (as the service's detect).
            self._judge(scorer, self._next_end, total, score, events)
            self._scored_end = total
        if self._stretch is not None:
            self._close_stretch(events)
        return events

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
