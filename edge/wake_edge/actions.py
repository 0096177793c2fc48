"""What a detection does on the device: run a command and/or POST a webhook, off the audio thread."""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime

import httpx

from wake_edge.background import BackgroundQueue

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Fired:
    """A detection as the actions see it."""

    deployment: str
    score: float
    threshold: float
    at: datetime
    stream_s: float
    version: int | None
    model_sha256: str | None

    def environment(self) -> dict[str, str]:
        """The variables a command gets: WAKE_DEPLOYMENT, WAKE_SCORE, WAKE_TIME and a few more."""
        return {
            "WAKE_DEPLOYMENT": self.deployment,
            "WAKE_SCORE": f"{self.score:.4f}",
            "WAKE_TIME": self.at.isoformat(),
            "WAKE_STREAM_S": f"{self.stream_s:.2f}",
            "WAKE_THRESHOLD": f"{self.threshold:.4f}",
            "WAKE_VERSION": "" if self.version is None else str(self.version),
        }

    def payload(self) -> dict[str, object]:
        """The webhook's JSON body."""
        return {
            "deployment": self.deployment,
            "score": self.score,
            "threshold": self.threshold,
            "time": self.at.isoformat(),
            "stream_s": self.stream_s,
            "version": self.version,
            "model_sha256": self.model_sha256,
        }


class Actions:
    """Runs the command (through the shell, not waited for) and posts the webhook for each detection, in order."""

    def __init__(self, *, command: str | None = None, webhook: str | None = None) -> None:
        self.command = command
        self.webhook = webhook
        self._children: list[subprocess.Popen[bytes]] = []
        self._http = httpx.Client(timeout=WEBHOOK_TIMEOUT_S) if webhook else None
        self._queue: BackgroundQueue[Fired] = BackgroundQueue("actions", self._run, maxsize=32)

    @property
    def enabled(self) -> bool:
        """Whether there is anything to do."""
        return bool(self.command or self.webhook)

    def submit(self, fired: Fired) -> None:
        """Queue a detection's actions without waiting."""
        if self.enabled and not self._queue.put(fired):
            log.warning("actions are falling behind: skipped the actions of a detection")

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish queued actions (the commands go on by themselves), then stop."""
        self._queue.close(timeout_s)
        if self._http is not None:
            self._http.close()

    def _run(self, fired: Fired) -> None:
        self._children = [child for child in self._children if child.poll() is None]
        if self.command:
            try:
                # The device owner's own command line: the shell lets it be `aplay ding.wav && curl …`.
                child = subprocess.Popen(self.command, shell=True, env={**os.environ, **fired.environment()})
                self._children.append(child)
            except OSError as exc:
                log.warning("the command could not start: %s", exc)
        if self.webhook and self._http is not None:
            try:
                response = self._http.post(self.webhook, json=fired.payload())
                if response.status_code >= 400:
                    log.warning("the webhook answered HTTP %d", response.status_code)
            except httpx.HTTPError as exc:
                log.warning("the webhook failed: %s", exc)
