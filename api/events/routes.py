"""Live events: server-sent events (resumable with Last-Event-ID) and a WebSocket, from one relay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import Request, WebSocket, get, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream
from sqlalchemy import select

from api.error_responses import errors
from api.errors import InvalidInput, NotFound
from api.events.relay import EventFilter, EventRelay
from api.validation import JobId, check_dataset_name, check_sequence, parse_job_id
from shared.db.models import FINISHED_STATES, Event, Job
from shared.events import EventMessage, to_message

HEARTBEAT_S = 15.0
BACKLOG_PAGE = 500
TERMINAL_JOB_EVENTS = {f"job.{state}" for state in FINISHED_STATES}


async def event_stream(
    state: State, event_filter: EventFilter, after: int, *, until_job_ends: bool
) -> AsyncIterator[EventMessage | None]:
    """The stored events after `after`, then live ones, in order and each once; None is a heartbeat tick."""
    relay: EventRelay = state.relay
    subscription = relay.subscribe(event_filter)
    try:
        last = after
        while True:
            async with state.session_factory() as session:
                rows = (
                    await session.scalars(
                        select(Event)
                        .where(Event.seq > last, *event_filter.where())
                        .order_by(Event.seq)
                        .limit(BACKLOG_PAGE)
                    )
                ).all()
            for row in rows:
                message = to_message(row)
                last = message.seq
                yield message
                if until_job_ends and message.type in TERMINAL_JOB_EVENTS:
                    return
            if len(rows) < BACKLOG_PAGE:
                break
        if until_job_ends and await _job_finished(state, event_filter.job_id):
            return
        while True:
            if subscription.overflowed or subscription.ended:
                return  # the client reconnects with Last-Event-ID and catches up from the database
            try:
                message = await asyncio.wait_for(subscription.queue.get(), HEARTBEAT_S)
            except TimeoutError:
                yield None
                continue
            if message is None:
                continue
            if message.seq <= last:
                continue
            last = message.seq
            yield message
            if until_job_ends and message.type in TERMINAL_JOB_EVENTS:
                return
    finally:
        relay.unsubscribe(subscription)


async def _job_finished(state: State, job_id: uuid.UUID | None) -> bool:
    async with state.session_factory() as session:
        status = await session.scalar(select(Job.status).where(Job.id == job_id))
    return status in FINISHED_STATES


def _sse_frame(message: EventMessage | None) -> bytes:
    if message is None:
        return b": heartbeat\n\n"
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (message.seq, message.type.encode(), msgspec.json.encode(message))


def _last_event_id(request: Request, after: int | None) -> int:
    raw = request.headers.get("last-event-id")
    if raw is None:
        return check_sequence(after or 0, "after")
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"Last-Event-ID {raw!r} is not an event sequence number") from None
    return check_sequence(value, "Last-Event-ID")


def _sse_response(frames: AsyncIterator[EventMessage | None]) -> Stream:
    async def encoded() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        async for message in frames:
            yield _sse_frame(message)

    return Stream(
        encoded(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@get("/events", tags=["events"], responses=errors(422))
async def all_events(
    request: Request,
    state: State,
    dataset: Annotated[str | None, QueryParameter(description="only this dataset's events")] = None,
    job_id: Annotated[str | None, QueryParameter(description="only this job's events")] = None,
    after: Annotated[int | None, QueryParameter(description="replay stored events after this seq")] = None,
) -> Stream:
    """Server-sent events: every event from now on (or after Last-Event-ID / `after`), with heartbeats."""
    event_filter = _filter(dataset, job_id)
    start = _last_event_id(request, after)
    if request.headers.get("last-event-id") is None and after is None:
        start = state.relay.last_seq
    return _sse_response(event_stream(state, event_filter, start, until_job_ends=False))


@get("/jobs/{job_id:str}/events", tags=["events", "jobs"], responses=errors(404, 422))
async def job_events(request: Request, state: State, job_id: JobId) -> Stream:
    """Server-sent events of one job from its first (or after Last-Event-ID); ends with the job."""
    parsed = parse_job_id(job_id)
    async with state.session_factory() as session:
        if await session.get(Job, parsed) is None:
            raise NotFound(f"job {parsed} does not exist; list jobs with GET /jobs")
    start = _last_event_id(request, None)
    return _sse_response(event_stream(state, EventFilter(job_id=parsed), start, until_job_ends=True))


@websocket("/ws/events", tags=["events"])
async def events_socket(
    socket: WebSocket,
    dataset: FromQuery[str | None] = None,
    job_id: FromQuery[str | None] = None,
    after: FromQuery[int | None] = None,
) -> None:
    """WebSocket of the same events as JSON messages; filter by `job_id` or `dataset`, replay with `after`."""
    await socket.accept()
    try:
        event_filter = _filter(dataset, job_id)
        if after is not None:
            check_sequence(after, "after")
    except InvalidInput as exc:
        await socket.send_json({"type": "error", "detail": exc.detail})
        await socket.close(code=1008)
        return
    state = socket.app.state
    start = after if after is not None else state.relay.last_seq
    sender = asyncio.create_task(_send_events(socket, event_stream(state, event_filter, start, until_job_ends=False)))
    receiver = asyncio.create_task(_drain(socket))
    # Whichever ends first (the client leaves, or the stream ends) ends the other.
    _, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def _send_events(socket: WebSocket, stream: AsyncIterator[EventMessage | None]) -> None:
    try:
        async for message in stream:
            if message is None:
                await socket.send_json({"type": "heartbeat"})
            else:
                await socket.send_text(msgspec.json.encode(message).decode())
    except WebSocketDisconnect:
        return


async def _drain(socket: WebSocket) -> None:
    """Read (and ignore) client messages so that a disconnect is noticed."""
    try:
        while True:
            await socket.receive_data(mode="text")
    except WebSocketDisconnect:
        return


def _filter(dataset: str | None, job_id: str | None) -> EventFilter:
    return EventFilter(
        job_id=parse_job_id(job_id) if job_id else None,
        dataset=check_dataset_name(dataset) if dataset else None,
    )
