"""Celery tasks: thin wrappers that run a job attempt with this worker process's resources."""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass

from celery import Task
from celery.exceptions import Reject
from celery.signals import worker_process_shutdown

from shared.db.session import create_sync_db_engine, database_unreachable, sync_session_factory
from shared.events import RedisPublisher, event_channel
from shared.settings import Settings, get_settings
from worker.celery_app import TRAIN_TASK, app
from worker.jobs import JobStore
from worker.runner import run_job

log = logging.getLogger(__name__)

# While the database is out, a message goes back to the broker after 0.5, 1, 2, 4 ... 30 s.
DB_BACKOFF_FIRST_S = 0.5
DB_BACKOFF_MAX_S = 30.0


@dataclass
class _ProcessResources:
    settings: Settings
    store: JobStore
    publisher: RedisPublisher


_resources: _ProcessResources | None = None


def _process_resources() -> _ProcessResources:
    # Made in the process that runs tasks (after any fork), never inherited from a parent.
    global _resources
    if _resources is None:
        settings = get_settings()
        publisher = RedisPublisher(settings.broker_url or "", event_channel(settings.resolved_database_url))
        engine = create_sync_db_engine(settings.resolved_database_url)
        store = JobStore(sync_session_factory(engine), publisher.publish)
        _resources = _ProcessResources(settings, store, publisher)
    return _resources


@worker_process_shutdown.connect
def _close_resources(**_: object) -> None:
    if _resources is not None:
        _resources.publisher.close()


class _Backoff:
    """Seconds to wait before handing a message back while the database is out: doubling, capped, reset on success."""

    def __init__(self, first_s: float = DB_BACKOFF_FIRST_S, max_s: float = DB_BACKOFF_MAX_S) -> None:
        self.first_s, self.max_s = first_s, max_s
        self.failures = 0

    def next(self) -> float:
        delay = min(self.max_s, self.first_s * 2**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


_db_backoff = _Backoff()


@app.task(name=TRAIN_TASK, bind=True)
def train(self: Task, job_id: str, attempt: int) -> str:
    """Run attempt `attempt` of job `job_id`; stale or duplicate deliveries are skipped."""
    resources = _process_resources()
    settings = resources.settings
    concurrency = int(self.app.conf.worker_concurrency or 1)
    threads = settings.worker_threads or max(1, (os.cpu_count() or 1) // concurrency)
    try:
        status = run_job(
            uuid.UUID(job_id),
            int(attempt),
            settings=settings,
            store=resources.store,
            hostname=self.request.hostname or "worker",
            threads=threads,
        )
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        # Acknowledging would lose the job: its row may still say queued, and nobody would send it again
        # soon. The message goes back to the broker instead, after a wait, so that a worker does not spin
        # through the queue while the database is out. A copy that comes back after this attempt was
        # claimed (the outage hit mid-job) is skipped by the claim; the reaper retries such a job.
        delay = _db_backoff.next()
        log.warning(
            "job %s attempt %s: the database is unreachable (%s); handing the message back in %.1f s",
            job_id,
            attempt,
            exc,
            delay,
        )
        time.sleep(delay)
        raise Reject(f"database unreachable: {exc}", requeue=True) from exc
    _db_backoff.reset()
    return status
