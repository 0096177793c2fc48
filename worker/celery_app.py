"""The Celery app: the Redis broker, the `training` queue, and settings fit for long GPU jobs."""

from __future__ import annotations

from celery import Celery

from shared.settings import Settings, get_settings

TRAINING_QUEUE = "training"
TRAIN_TASK = "wake_training.train"


def create_celery(settings: Settings) -> Celery:
    """A Celery app for the given settings (the broker is required)."""
    celery = Celery("wake_training", broker=settings.broker_url or "memory://", include=["worker.tasks"])
    celery.conf.update(
        task_default_queue=TRAINING_QUEUE,
        task_routes={TRAIN_TASK: {"queue": TRAINING_QUEUE}},
        # A job is acknowledged only when it ends, and goes back to the queue if its process dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Redis re-delivers unacknowledged messages after the visibility timeout: keep it above the
        # longest job so a healthy long job is not run twice. Lost workers are handled by the reaper.
        broker_transport_options={"visibility_timeout": int(settings.job_time_limit_s) + 3600},
        task_soft_time_limit=settings.job_time_limit_s,
        task_time_limit=settings.job_time_limit_s + 120,
        task_ignore_result=True,
        # Flower shows tasks only if workers send events.
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_concurrency=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
    )
    return celery


app = create_celery(get_settings())
