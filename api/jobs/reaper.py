"""The reaper: a background task of the API that retries or fails jobs whose worker went silent."""

from __future__ import annotations

import asyncio
import logging
import uuid

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from api.events.recorder import EventRecorder
from api.jobs.service import JobService

log = logging.getLogger(__name__)


def _service(session: AsyncSession, state: State) -> JobService:
    return JobService(session, state.storage, state.settings, EventRecorder(session, state.relay), state.dispatcher)


async def _enqueue_all(state: State, attempts: list[tuple[uuid.UUID, int]]) -> None:
    for job_id, attempt in attempts:
        await state.dispatcher.enqueue(job_id, attempt)


async def reap_once(state: State) -> int:
    """One pass: requeue or fail stale running jobs; returns how many were requeued."""
    async with state.session_factory() as session:
        retries = await _service(session, state).reap()
    for job_id, attempt in retries:
        log.warning("job %s: worker lost, queued again as attempt %s", job_id, attempt)
    await _enqueue_all(state, retries)
    return len(retries)


async def run_reaper(state: State) -> None:
    """Reap every `reaper_interval_s` until cancelled."""
    while True:
        await asyncio.sleep(state.settings.reaper_interval_s)
        try:
            await reap_once(state)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed pass is retried at the next interval
            log.warning("reaper pass failed", exc_info=True)


async def requeue_waiting(state: State) -> None:
    """Hand every queued job to the embedded worker again (its queue does not survive a restart)."""
    async with state.session_factory() as session:
        waiting = await _service(session, state).queued_attempts()
    await _enqueue_all(state, waiting)
