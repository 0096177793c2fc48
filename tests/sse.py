"""A small server-sent-events reader for tests: frames from an httpx stream, with a deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SSEEvent:
    """One event frame: its id (the event's seq), type and decoded JSON data."""

    id: int
    type: str
    data: dict[str, Any]


def frames(response: httpx.Response) -> Iterator[SSEEvent | None]:
    """Event frames as they arrive; None for a heartbeat comment."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            yield None
        elif line == "":
            if "data" in fields:
                data = json.loads(fields["data"])
                yield SSEEvent(id=int(fields["id"]), type=fields.get("event", "message"), data=data)
            fields = {}
        else:
            key, _, value = line.partition(":")
            fields[key] = value[1:] if value.startswith(" ") else value


def collect(
    client: httpx.Client,
    url: str,
    *,
    until: Callable[[list[SSEEvent]], bool],
    timeout: float = 60.0,
    headers: dict[str, str] | None = None,
) -> list[SSEEvent]:
    """Open an SSE stream and read events until `until(events)` holds or the stream ends."""
    events: list[SSEEvent] = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", url, headers=headers, timeout=httpx.Timeout(timeout, read=timeout)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for frame in frames(response):
            if frame is not None:
                events.append(frame)
            if until(events) or time.monotonic() > deadline:
                break
    return events
