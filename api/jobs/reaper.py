"""The reaper: the API's background task that retries or fails jobs whose worker went silent, then runs the outbox."""

from __future__ import annotations

import asyncio
import logging

from litestar.datastructures import State

from api.jobs.outbox import Outbox, job_service

log = logging.getLogger(__name__)


async def reap_once(state: State) -> int:
    """Requeue or fail stale running jobs; returns how many were queued again (the outbox sends them)."""
    async with state.session_factory() as session:
        retries = await job_service(session, state).reap()
    for job_id, attempt in retries:
        log.warning("job %s: worker lost, queued again as attempt %s", job_id, attempt)
    return len(retries)


async def run_reaper(state: State) -> None:
    """At start and every `reaper_interval_s` until cancelled: reap, then send what the broker may lack."""
    outbox = Outbox()
    while True:
        try:
            await reap_once(state)
            await outbox.run_once(state)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed pass is retried at the next interval
            log.warning("reaper pass failed", exc_info=True)
        await asyncio.sleep(state.settings.reaper_interval_s)
