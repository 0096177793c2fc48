"""Reporting detections and near misses to the server, with the audio around them, from a queue that never blocks."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from wake_edge.api_client import ApiClient, ServerError
from wake_edge.audio import wav_bytes
from wake_edge.background import BackgroundQueue

log = logging.getLogger(__name__)

QUEUE_SIZE = 64
NEAR_MISSES_PER_HOUR = 10
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0


@dataclass(frozen=True)
class Report:
    """One report as POST /devices/self/reports takes it; `audio` is 16 kHz mono float32, or None."""

    kind: str  # "detection" | "near_miss"
    score: float
    threshold: float
    at: datetime
    model_sha256: str
    version: int
    audio: np.ndarray | None = None

    def fields(self) -> dict[str, str]:
        """The form fields."""
        return {
            "kind": self.kind,
            "score": f"{self.score:.6f}",
            "threshold": f"{self.threshold:.6f}",
            "at": self.at.isoformat(),
            "model_sha256": self.model_sha256,
            "version": str(self.version),
        }


class Reporter:
    """Posts reports in order from a background thread, retrying while the server is away; near misses rate-limited."""

    def __init__(
        self,
        client: ApiClient,
        *,
        maxsize: int = QUEUE_SIZE,
        near_misses_per_hour: int = NEAR_MISSES_PER_HOUR,
        max_retry_s: float = MAX_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.near_misses_per_hour = near_misses_per_hour
        self.max_retry_s = max_retry_s
        self.clock = clock
        self.sent: deque[dict[str, object]] = deque(maxlen=100)  # the latest, for logs and tests
        self._near_miss_times: deque[float] = deque()
        self._lock = threading.Lock()
        self._queue: BackgroundQueue[Report] = BackgroundQueue("reports", self._send, maxsize=maxsize)

    def submit(self, report: Report) -> bool:
        """Queue a report without waiting; False when it is dropped (near-miss limit reached, or the queue full)."""
        if report.kind == "near_miss" and not self._near_miss_allowed():
            log.debug("near miss not reported: %d an hour at most", self.near_misses_per_hour)
            return False
        if not self._queue.put(report):
            log.warning("the report queue is full (server away?): dropped a %s report", report.kind)
            return False
        return True

    def close(self, timeout_s: float = 10.0) -> bool:
        """Give queued reports up to timeout_s to go out, then stop; True when all went."""
        return self._queue.close(timeout_s)

    def _near_miss_allowed(self) -> bool:
        now = self.clock()
        with self._lock:
            while self._near_miss_times and now - self._near_miss_times[0] >= 3600.0:
                self._near_miss_times.popleft()
            if len(self._near_miss_times) >= self.near_misses_per_hour:
                return False
            self._near_miss_times.append(now)
            return True

    def _send(self, report: Report) -> None:
        audio = wav_bytes(report.audio) if report.audio is not None else None
        delay = FIRST_RETRY_S
        stopping = self._queue.stopping
        while not stopping.is_set():
            try:
                answer = self.client.post_report(report.fields(), audio)
            except ServerError as exc:
                status = exc.status_code
                if status == 429 and report.kind == "near_miss":
                    log.info("the server limits near misses (429): this one is not reported")
                    return
                if status is not None and status < 500 and status != 429:
                    log.warning("the server refused a %s report: %s", report.kind, exc)
                    return
                wait = exc.retry_after_s if status == 429 and exc.retry_after_s else delay
                delay = min(self.max_retry_s, delay * 2)
                log.info("%s report not sent (%s); retry in %.0f s", report.kind, exc, wait)
                if stopping.wait(wait):
                    return
                continue
            self.sent.append({**report.fields(), "audio": audio is not None, "answer": answer})
            log.info(
                "reported %s at score %.3f%s",
                report.kind,
                report.score,
                f" (clip {answer['clip_id']})" if answer.get("clip_id") else "",
            )
            return
