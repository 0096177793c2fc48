"""One audio stream through one deployment: the detector, then the actions, the audio clip and the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np

from wake_edge.actions import Actions, Fired
from wake_edge.capture import ClipCutter
from wake_edge.detector import SAMPLE_RATE, StreamDetector, WakeEvent
from wake_edge.reporter import Report, Reporter


def utc_now() -> datetime:
    """The device's clock, in UTC."""
    return datetime.now(timezone.utc)


class Listener:
    """Feeds blocks to a detector and hands each event on; nothing here waits on the network."""

    def __init__(
        self,
        detector: StreamDetector,
        *,
        reporter: Reporter | None = None,
        actions: Actions | None = None,
        send_audio: bool = True,
        on_event: Callable[[WakeEvent], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.detector = detector
        self.reporter = reporter
        self.actions = actions
        self.send_audio = send_audio
        self.on_event = on_event
        self.clock = clock
        self.cutter = ClipCutter() if reporter is not None and send_audio else None

    def feed(self, block: np.ndarray) -> list[WakeEvent]:
        """The next block of the stream; returns the events it completed."""
        events = self.detector.feed(block)
        if self.cutter is not None:
            self.cutter.push(block)
        for event in events:
            self._handle(event)
        return events

    def finish(self) -> list[WakeEvent]:
        """End of the stream: the last window, then the clips still waiting for audio."""
        events = self.detector.finish()
        for event in events:
            self._handle(event)
        if self.cutter is not None:
            self.cutter.flush()
        return events

    def hang_up(self) -> None:
        """The stream was cut (a Wyoming client hangs up after a detection): send the clips with what was heard."""
        if self.cutter is not None:
            self.cutter.flush()

    def _handle(self, event: WakeEvent) -> None:
        # The event is known a little after its window ended (a batch, a near miss's stretch): date it back.
        lag_s = max(0, self.detector.position - event.end_sample) / SAMPLE_RATE
        at = self.clock() - timedelta(seconds=lag_s)
        scorer = event.scorer
        if self.on_event is not None:
            self.on_event(event)
        if event.kind == "detection" and self.actions is not None:
            self.actions.submit(
                Fired(scorer.name, event.score, event.threshold, at, event.time_s, scorer.version, scorer.sha256)
            )
        reporter = self.reporter
        if reporter is None or scorer.version is None or scorer.sha256 is None:
            return
        report = Report(event.kind, event.score, event.threshold, at, scorer.sha256, scorer.version)
        if self.cutter is not None and scorer.report_audio:
            self.cutter.cut(
                event.end_sample,
                event.window_samples,
                lambda audio: reporter.submit(replace(report, audio=audio)),
            )
        else:
            reporter.submit(report)
