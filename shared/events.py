"""The one event schema, its persistence order, and the buses that carry live events."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import text

from shared.db.models import Event

EVENT_CHANNEL_PREFIX = "wake-training:events:"
# Held while an event is inserted and until its transaction commits, so that events commit in
# `seq` order on Postgres (SQLite's single writer gives that already). A relay that sees seq N
# can then rely on every smaller seq being committed.
_EVENT_ORDER_LOCK = text("SELECT pg_advisory_xact_lock(7742301)")


def event_channel(database_url: str) -> str:
    """The Redis channel of one deployment: named by its database, whose sequence numbers it carries."""
    # Redis pub/sub ignores database numbers, so two deployments (or test runs) sharing a Redis
    # server would otherwise hear each other's events.
    return EVENT_CHANNEL_PREFIX + hashlib.sha256(database_url.encode()).hexdigest()[:16]


class EventMessage(msgspec.Struct, frozen=True):
    """An event as clients receive it: over SSE (id = seq), WebSocket, and Redis pub/sub."""

    seq: int
    ts: datetime
    type: str
    job_id: uuid.UUID | None
    dataset: str | None
    payload: dict[str, Any]


def new_event(
    type_: str, *, job_id: uuid.UUID | None = None, dataset: str | None = None, payload: dict[str, Any] | None = None
) -> Event:
    """An event row, not yet added to a session."""
    return Event(type=type_, job_id=job_id, dataset=dataset, payload=payload or {})


def event_order_lock(dialect_name: str):
    """The statement to run before inserting events in a transaction, or None where none is needed."""
    return _EVENT_ORDER_LOCK if dialect_name == "postgresql" else None


def to_message(row: Event) -> EventMessage:
    """The wire form of a stored event."""
    return EventMessage(
        seq=row.seq, ts=row.ts, type=row.type, job_id=row.job_id, dataset=row.dataset, payload=row.payload or {}
    )


def encode(message: EventMessage) -> bytes:
    """JSON bytes of an event."""
    return msgspec.json.encode(message)


def decode(data: bytes | str) -> EventMessage:
    """An event from its JSON."""
    return msgspec.json.decode(data, type=EventMessage)


Publisher = Callable[[EventMessage], None]


class MemoryBus:
    """The embedded mode's pub/sub: publishers and subscribers in one process, any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Publisher] = []

    def subscribe(self, callback: Publisher) -> Callable[[], None]:
        """Call `callback` with every event published from now on; returns the unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, message: EventMessage) -> None:
        """Hand the event to every subscriber."""
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(message)


class RedisPublisher:
    """Publishes events on the Redis channel that every API process relays (used by workers)."""

    def __init__(self, url: str, channel: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._channel = channel

    def publish(self, message: EventMessage) -> None:
        """Publish one event; a lost live tick is recovered by clients from the database."""
        self._client.publish(self._channel, encode(message))

    def close(self) -> None:
        """Release the connection."""
        self._client.close()
