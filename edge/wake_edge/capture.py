"""The audio around an event: the stream's last seconds, and clips cut once the second after a window is heard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wake_edge.audio import SAMPLE_RATE
from wake_edge.stream_buffer import StreamBuffer

BEFORE_S = 1.0
AFTER_S = 1.0
KEEP_S = 12.0
MAX_CLIP_S = 5.0  # what the server takes


@dataclass
class _Pending:
    start: int
    stop: int
    deliver: Callable[[np.ndarray], None]


class ClipCutter:
    """Keeps the last KEEP_S of a stream; `cut` delivers [window start - 1 s, window end + 1 s] once it is all in."""

    def __init__(self, *, before_s: float = BEFORE_S, after_s: float = AFTER_S, keep_s: float = KEEP_S) -> None:
        self.before = round(before_s * SAMPLE_RATE)
        self.after = round(after_s * SAMPLE_RATE)
        self.keep = round(keep_s * SAMPLE_RATE)
        self._history = StreamBuffer(4 * self.keep)
        self._pending: list[_Pending] = []

    @property
    def position(self) -> int:
        """Samples pushed so far."""
        return self._history.end

    def push(self, block: np.ndarray) -> None:
        """Add the stream's next block; deliver the clips it completes."""
        self._history.append(np.asarray(block, dtype=np.float32).reshape(-1))
        self._history.drop_before(self._history.end - self.keep)
        ready = [item for item in self._pending if item.stop <= self.position]
        self._pending = [item for item in self._pending if item.stop > self.position]
        for item in ready:
            item.deliver(self._slice(item.start, item.stop))

    def cut(self, end_sample: int, window_samples: int, deliver: Callable[[np.ndarray], None]) -> None:
        """Deliver the audio around the window ending at end_sample (at most MAX_CLIP_S) when it has been heard."""
        stop = end_sample + self.after
        start = max(0, end_sample - window_samples - self.before, stop - round(MAX_CLIP_S * SAMPLE_RATE))
        self._pending.append(_Pending(start, stop, deliver))
        if stop <= self.position:
            self.push(np.zeros(0, dtype=np.float32))

    def flush(self) -> None:
        """End of the stream: deliver what is pending with the audio there is."""
        pending, self._pending = self._pending, []
        for item in pending:
            item.deliver(self._slice(item.start, min(item.stop, self.position)))

    def _slice(self, start: int, stop: int) -> np.ndarray:
        return self._history.view(start, stop).copy()
