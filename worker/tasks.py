"""Celery tasks: thin wrappers that run a job attempt with this worker process's resources."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from celery import Task
from celery.signals import worker_process_shutdown

from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.events import RedisPublisher, event_channel
from shared.settings import Settings, get_settings
from worker.celery_app import TRAIN_TASK, app
from worker.jobs import JobStore
from worker.runner import run_job


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


@app.task(name=TRAIN_TASK, bind=True)
def train(self: Task, job_id: str, attempt: int) -> str:
    """Run attempt `attempt` of job `job_id`; stale or duplicate deliveries are skipped."""
    resources = _process_resources()
    settings = resources.settings
    concurrency = int(self.app.conf.worker_concurrency or 1)
    threads = settings.worker_threads or max(1, (os.cpu_count() or 1) // concurrency)
    return run_job(
        uuid.UUID(job_id),
        int(attempt),
        settings=settings,
        store=resources.store,
        hostname=self.request.hostname or "worker",
        threads=threads,
    )
