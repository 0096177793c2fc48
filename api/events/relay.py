"""The API process's event relay: one ordered live stream, fanned out to every connected client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.models import Event
from shared.events import EventMessage, MemoryBus, decode, encode, to_message

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE_SIZE = 10_000
CATCH_UP_PAGE = 500


@dataclass(frozen=True)
class EventFilter:
    """Which events a client wants: all, one job's, or one dataset's."""

    job_id: uuid.UUID | None = None
    dataset: str | None = None

    def matches(self, message: EventMessage) -> bool:
        if self.job_id is not None and message.job_id != self.job_id:
            return False
        return not (self.dataset is not None and message.dataset != self.dataset)

    def where(self) -> list:
        conditions = []
        if self.job_id is not None:
            conditions.append(Event.job_id == self.job_id)
        if self.dataset is not None:
            conditions.append(Event.dataset == self.dataset)
        return conditions


@dataclass(eq=False)
class Subscription:
    """A client's live feed; `overflowed` is set if it fell too far behind and must reconnect, `ended` when the
    server stops (a None in the queue wakes a stream that waits on it)."""

    filter: EventFilter
    queue: asyncio.Queue[EventMessage | None] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE_SIZE))
    overflowed: bool = False
    ended: bool = False


class EventRelay:
    """Receives published events (Redis pub/sub, or the in-process bus), puts them in `seq` order, fans out.

    Events commit in seq order (see shared.events), but may be published out of order by different
    processes; when an event arrives ahead of the last one passed on, the missing ones are read
    from the database first, so every client sees strictly increasing sequence numbers.

    A publish can also be lost outright (Redis down while a worker published): the relay reads the
    events it has not seen from the database every `poll_s` seconds and as soon as it subscribes to
    Redis again, so a stream never waits for an unrelated later event to learn of them.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        bus: MemoryBus | None,
        redis_url: str | None,
        channel: str,
        poll_s: float,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.redis_url = redis_url
        self.channel = channel
        self.poll_s = poll_s
        self.last_seq = 0
        # None asks the dispatcher to read what it missed from the database.
        self._inbox: asyncio.Queue[EventMessage | None] = asyncio.Queue()
        self._subscriptions: set[Subscription] = set()
        self._tasks: list[asyncio.Task] = []
        self._unsubscribe_bus: Callable[[], None] | None = None
        self._ending = False
        self._redis = None

    async def start(self) -> None:
        """Begin relaying from the bus."""
        async with self.sessions() as session:
            self.last_seq = await session.scalar(select(func.coalesce(func.max(Event.seq), 0))) or 0
        if self.bus is not None:
            loop = asyncio.get_running_loop()
            self._unsubscribe_bus = self.bus.subscribe(
                lambda message: loop.call_soon_threadsafe(self._inbox.put_nowait, message)
            )
        else:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.redis_url, socket_connect_timeout=5)
            self._tasks.append(asyncio.create_task(self._read_redis(), name="event-relay-redis"))
        self._tasks.append(asyncio.create_task(self._dispatch(), name="event-relay-dispatch"))

    async def stop(self) -> None:
        """Stop relaying and close connections."""
        if self._unsubscribe_bus is not None:
            self._unsubscribe_bus()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, messages: Sequence[EventMessage]) -> None:
        """Publish events that this process recorded (after their transaction committed)."""
        for message in messages:
            if self.bus is not None:
                self.bus.publish(message)
            else:
                try:
                    await self._redis.publish(self.channel, encode(message))
                except Exception:  # the event is stored; clients catch up from the database
                    log.warning("could not publish event %s", message.seq, exc_info=True)

    async def publish_rows(self, rows: Sequence[Event]) -> None:
        """Publish committed event rows."""
        await self.publish([to_message(row) for row in rows])

    def subscribe(self, event_filter: EventFilter) -> Subscription:
        """Start receiving live events that match the filter."""
        subscription = Subscription(event_filter, ended=self._ending)
        self._subscriptions.add(subscription)
        return subscription

    def end_streams(self) -> None:
        """End every live feed now, because the server is stopping: its clients reconnect to whichever server
        answers next and catch up from their last event, instead of holding this one's stop open."""
        self._ending = True
        for subscription in list(self._subscriptions):
            subscription.ended = True
            with contextlib.suppress(asyncio.QueueFull):  # a full queue is being read: the flag is seen next
                subscription.queue.put_nowait(None)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop receiving live events."""
        self._subscriptions.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        """How many clients are connected."""
        return len(self._subscriptions)

    async def _read_redis(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for item in pubsub.listen():
                    if item.get("type") == "message":
                        self._inbox.put_nowait(decode(item["data"]))
                    elif item.get("type") == "subscribe":
                        # (Re)subscribed, here or inside redis-py after a reconnect: what was published
                        # while the subscription was down is only in the database.
                        self._inbox.put_nowait(None)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarted: subscribe again, then catch up from the database
                log.warning("event relay lost Redis; retrying", exc_info=True)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time() + self.poll_s
        while True:
            try:
                message = await asyncio.wait_for(self._inbox.get(), max(0.0, next_poll - loop.time()))
            except TimeoutError:
                message = None
            try:
                if message is None:
                    next_poll = loop.time() + self.poll_s
                    batch = await self._catch_up()
                    if len(batch) == CATCH_UP_PAGE:
                        next_poll = loop.time()  # more to read: the next page at once
                elif message.seq <= self.last_seq:
                    continue
                elif message.seq == self.last_seq + 1:
                    batch = [message]
                else:
                    batch = await self._fill_gap(message)
            except Exception:  # pass the event on; the next poll reads what is still missing
                log.warning("event relay could not read missed events", exc_info=True)
                batch = [] if message is None else [message]
            for item in batch:
                self._fan_out(item)
                self.last_seq = item.seq

    async def _catch_up(self) -> list[EventMessage]:
        """The stored events after the last one passed on, oldest first (one page)."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Event).where(Event.seq > self.last_seq).order_by(Event.seq).limit(CATCH_UP_PAGE)
            )
            return [to_message(row) for row in rows]

    async def _fill_gap(self, message: EventMessage) -> list[EventMessage]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Event).where(Event.seq > self.last_seq, Event.seq <= message.seq).order_by(Event.seq)
            )
            found = [to_message(row) for row in rows]
        return found if found and found[-1].seq == message.seq else [*found, message]

    def _fan_out(self, message: EventMessage) -> None:
        for subscription in list(self._subscriptions):
            if not subscription.filter.matches(message):
                continue
            try:
                subscription.queue.put_nowait(message)
            except asyncio.QueueFull:
                subscription.overflowed = True
                self._subscriptions.discard(subscription)
