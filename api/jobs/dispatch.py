"""Handing a job attempt to whoever runs jobs: the embedded worker, or Celery workers via Redis."""

from __future__ import annotations

import uuid
from typing import Protocol

import anyio.to_thread

from shared.settings import Settings


class Dispatcher(Protocol):
    """Queues one attempt of a job."""

    async def enqueue(self, job_id: uuid.UUID, attempt: int) -> None: ...


class CeleryDispatcher:
    """Sends the training task to the `training` queue on the broker."""

    def __init__(self, settings: Settings) -> None:
        from worker.celery_app import create_celery

        self.celery = create_celery(settings)

    async def enqueue(self, job_id: uuid.UUID, attempt: int) -> None:
        from worker.celery_app import TRAIN_TASK, TRAINING_QUEUE

        # send_task talks to Redis synchronously; keep it off the event loop.
        await anyio.to_thread.run_sync(
            lambda: self.celery.send_task(TRAIN_TASK, args=[str(job_id), attempt], queue=TRAINING_QUEUE)
        )

    def close(self) -> None:
        """Release broker connections."""
        self.celery.close()


class EmbeddedDispatcher:
    """Queues the attempt on the in-process worker."""

    def __init__(self, worker) -> None:  # worker.embedded.EmbeddedWorker; not imported here to keep torch out
        self.worker = worker

    async def enqueue(self, job_id: uuid.UUID, attempt: int) -> None:
        self.worker.submit(job_id, attempt)
