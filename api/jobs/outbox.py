"""The outbox: the job row is the truth, and its broker message is sent again until a worker claims the job.

A message can vanish without a trace: a broker restarted without persistence, the API dying between
committing a job and sending it, a send that failed after the commit. Sending again is always safe, because a
worker claims a job only while it is queued at the attempt named in the message (`JobStore.claim`): of every
copy of an attempt's message, one claims the job and the rest are skipped, so a job never runs twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from api.events.recorder import EventRecorder
from api.jobs.service import JobService
from shared.db.base import utcnow

log = logging.getLogger(__name__)


def job_service(session: AsyncSession, state: State) -> JobService:
    """The job service over one session, with the app's storage, settings, relay, dispatcher and presets."""
    recorder = EventRecorder(session, state.relay)
    return JobService(session, state.storage, state.settings, recorder, state.dispatcher, state.presets)


async def send_queued(state: State, *, everything: bool = False) -> int:
    """Send the messages of queued jobs: all of them, or those never sent or sent too long ago; returns how many."""
    cutoff = None if everything else utcnow() - timedelta(seconds=state.settings.resend_queued_after_s)
    async with state.session_factory() as session:
        service = job_service(session, state)
        due = await service.queued_attempts(sent_before=cutoff)
        for job_id, attempt in due:
            # Sent first, marked second: a crash between the two only sends once more.
            await state.dispatcher.enqueue(job_id, attempt)
            await service.mark_sent(job_id, attempt)
    if due:
        why = "the broker or the API (re)started" if everything else "not sent, or not started in time"
        log.info("sent %d queued job(s) to the broker again (%s)", len(due), why)
    return len(due)


class Outbox:
    """Sends queued jobs' messages on each pass; all of them on the first pass and whenever the broker restarted."""

    def __init__(self) -> None:
        self._broker: str | None = None
        self._passed = False

    async def run_once(self, state: State) -> int:
        """One pass; returns how many messages were sent."""
        broker = await state.dispatcher.broker_instance()
        # Nothing is known of what the broker holds at our start, nor after it restarted (without persistence
        # it forgot every message): send every queued job then. Recorded only after the pass went through.
        restarted = not self._passed or (broker is not None and broker != self._broker)
        sent = await send_queued(state, everything=restarted)
        self._broker, self._passed = broker, True
        return sent
