"""The embedded worker: runs queued jobs on a thread inside `serve` when no broker is configured."""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import uuid

from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.events import MemoryBus
from shared.settings import Settings
from worker.jobs import JobStore
from worker.runner import run_job

log = logging.getLogger(__name__)


class EmbeddedWorker:
    """One job at a time, in submission order, through the same job code as a Celery worker."""

    def __init__(self, settings: Settings, bus: MemoryBus) -> None:
        self.settings = settings
        self.bus = bus
        self.hostname = f"embedded@{socket.gethostname()}"
        self._queue: queue.Queue[tuple[uuid.UUID, int] | None] = queue.Queue()
        self._shutdown = threading.Event()
        self._thread = threading.Thread(target=self._run, name="embedded-worker", daemon=True)

    def start(self) -> None:
        """Start taking jobs."""
        self._thread.start()

    def submit(self, job_id: uuid.UUID, attempt: int) -> None:
        """Queue an attempt of a job."""
        self._queue.put((job_id, attempt))

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current training step; a job cut short goes back to the queue."""
        self._shutdown.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        engine = create_sync_db_engine(self.settings.resolved_database_url)
        store = JobStore(sync_session_factory(engine), self.bus.publish)
        threads = self.settings.worker_threads or max(1, (os.cpu_count() or 1) - 1)
        try:
            while not self._shutdown.is_set():
                item = self._queue.get()
                if item is None:
                    break
                job_id, attempt = item
                try:
                    run_job(
                        job_id,
                        attempt,
                        settings=self.settings,
                        store=store,
                        hostname=self.hostname,
                        shutdown=self._shutdown,
                        threads=threads,
                    )
                except Exception:  # run_job records failures; this keeps the thread alive for the next job
                    log.exception("embedded worker: job %s crashed", job_id)
        finally:
            engine.dispose()
