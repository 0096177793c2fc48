"""The recent part of an endless stream, addressed by absolute sample position, appended without re-copying it all."""

from __future__ import annotations

import numpy as np


class StreamBuffer:
    """Samples [start, end) of a stream; `drop_before` forgets the old ones, `view` reads without copying."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._data = np.zeros(max(1, capacity), dtype=np.float32)
        self._low = 0  # _data[_low] holds stream position `start`
        self._high = 0
        self.start = 0

    @property
    def end(self) -> int:
        """The stream position after the last sample (samples appended so far)."""
        return self.start + self._high - self._low

    def append(self, samples: np.ndarray) -> None:
        """Add the next samples of the stream."""
        size = samples.size
        if self._high + size > self._data.size:
            kept = self._high - self._low
            # Move the kept samples to the front (rarely: once per capacity's worth of appends), growing if needed.
            if kept + size > self._data.size // 2:
                grown = np.zeros(max(2 * (kept + size), self._data.size), dtype=np.float32)
                grown[:kept] = self._data[self._low : self._high]
                self._data = grown
            else:
                self._data[:kept] = self._data[self._low : self._high]
            self._low, self._high = 0, kept
        self._data[self._high : self._high + size] = samples
        self._high += size

    def drop_before(self, position: int) -> None:
        """Forget the samples before `position`."""
        position = min(position, self.end)
        if position > self.start:
            self._low += position - self.start
            self.start = position

    def view(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) clipped to what is kept; a view, valid until the next append."""
        start, stop = max(start, self.start), min(stop, self.end)
        if stop <= start:
            return self._data[0:0]
        return self._data[self._low + start - self.start : self._low + stop - self.start]
