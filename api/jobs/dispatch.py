"""Handing a job attempt to whoever runs jobs: the embedded worker, or Celery workers via Redis."""

from __future__ import annotations

import uuid
from typing import Protocol

import anyio.to_thread

from shared.settings import Settings

BROKER_CHECK_TIMEOUT_S = 3.0
EMBEDDED_INSTANCE = "embedded"


class Dispatcher(Protocol):
    """Queues one attempt of a job."""

    async def enqueue(self, job_id: uuid.UUID, attempt: int) -> None: ...

    async def broker_instance(self) -> str | None:
        """Which run of the broker holds the queue; it changes when the broker restarts (None: unknown)."""
        ...


class CeleryDispatcher:
    """Sends the training task to the `training` queue on the broker."""

    def __init__(self, settings: Settings) -> None:
        from worker.celery_app import create_celery

        self.settings = settings
        self.celery = create_celery(settings)

    async def enqueue(self, job_id: uuid.UUID, attempt: int) -> None:
        from worker.celery_app import TRAIN_TASK, TRAINING_QUEUE

        # send_task talks to Redis synchronously; keep it off the event loop.
        await anyio.to_thread.run_sync(
            lambda: self.celery.send_task(TRAIN_TASK, args=[str(job_id), attempt], queue=TRAINING_QUEUE)
        )

    async def broker_instance(self) -> str | None:
        """Redis's run id: a new one means a restart, which may have dropped every queued message."""
        import redis.asyncio as aioredis

        url = self.settings.broker_url or ""
        if not url.startswith(("redis://", "rediss://", "unix://")):
            return None
        client = aioredis.from_url(
            url, socket_connect_timeout=BROKER_CHECK_TIMEOUT_S, socket_timeout=BROKER_CHECK_TIMEOUT_S
        )
        try:
            return str((await client.info("server"))["run_id"])
        finally:
            await client.aclose()

    def close(self) -> None:
        """Release broker connections."""
        self.celery.close()


class EmbeddedDispatcher:
    """Queues the attempt on the in-process worker."""

    def __init__(self, worker) -> None:  # worker.embedded.EmbeddedWorker; not imported here to keep torch out
        self.worker = worker

    async def enqueue(self, job_id: uuid.UUID, attempt: int) -> None:
        self.worker.submit(job_id, attempt)

    async def broker_instance(self) -> str | None:
        """The in-process queue lives exactly as long as this process."""
        return EMBEDDED_INSTANCE
