"""Adding events to the transaction of the change they describe, and publishing them once it commits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.events.relay import EventRelay
from shared.db.models import Event
from shared.events import event_order_lock, new_event


class EventRecorder:
    """Stages events in a session; `publish` sends them after the caller commits."""

    def __init__(self, session: AsyncSession, relay: EventRelay) -> None:
        self.session = session
        self.relay = relay
        self._pending: list[Event] = []

    async def add(
        self,
        type_: str,
        *,
        job_id: uuid.UUID | None = None,
        dataset: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Event:
        """Add an event to the session's transaction."""
        lock = event_order_lock(self.session.get_bind().dialect.name)
        if lock is not None:
            await self.session.execute(lock)
        event = new_event(type_, job_id=job_id, dataset=dataset, payload=payload)
        self.session.add(event)
        self._pending.append(event)
        return event

    async def publish(self) -> None:
        """Publish the staged events; call after the commit."""
        pending, self._pending = self._pending, []
        await self.relay.publish_rows(pending)

    def discard(self) -> None:
        """Forget staged events (the transaction was rolled back)."""
        self._pending = []
