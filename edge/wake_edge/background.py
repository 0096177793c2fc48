"""A bounded queue drained by one daemon thread: how the audio thread hands off work without ever waiting on it."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class BackgroundQueue(Generic[T]):
    """`put` never blocks (False when full); `handle` runs on each item in order, in a thread of its own."""

    def __init__(self, name: str, handle: Callable[[T], None], *, maxsize: int = 64) -> None:
        self.name = name
        self.handle = handle
        self.stopping = threading.Event()
        self._queue: queue.Queue[T] = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> bool:
        """Queue an item; False (and nothing waits) when the queue is full."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        return True

    def close(self, timeout_s: float = 10.0) -> bool:
        """Let the queue drain for up to timeout_s, then stop the thread; True when everything was handled."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        drained = not self._queue.unfinished_tasks
        self.stopping.set()
        self._thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
        return drained

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self.handle(item)
            except Exception:  # one bad item must not end the thread that handles all the others
                log.exception("%s: an item failed", self.name)
            finally:
                self._queue.task_done()
