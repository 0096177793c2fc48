"""The worker's side of a job's life: claim, heartbeat, progress, logs and the final state, each with its event."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.audio import NormalizedClip
from shared.clips import clip_fields, new_clip
from shared.db.base import utcnow
from shared.db.models import Clip, Event, Job
from shared.events import Publisher, event_order_lock, new_event, to_message
from shared.storage import Storage, atomic_write
from shared.writers import WriterLease

log = logging.getLogger(__name__)


class JobStore:
    """Short transactions on one job row; every change of state is an event, persisted then published.

    Every write is conditional on the attempt number, so a worker whose job was handed to another
    worker (after it was presumed lost) can no longer change it.
    """

    def __init__(self, sessions: sessionmaker[Session], publisher: Publisher) -> None:
        self.sessions = sessions
        self.publisher = publisher
        # One lease per volume, for the life of this store (a process's): see shared.writers.
        self._writers: dict[Path, WriterLease] = {}

    def claim(self, job_id: uuid.UUID, attempt: int, hostname: str) -> Job | None:
        """Move a queued job to running for this attempt; None if it is not ours to run."""
        now = utcnow()
        return self._change(
            job_id,
            attempt,
            {"status": "running", "worker_hostname": hostname, "started_at": now, "heartbeat_at": now},
            "job.started",
            {"attempt": attempt, "worker": hostname, "status": "running"},
            from_status="queued",
        )

    def heartbeat(self, job_id: uuid.UUID, attempt: int) -> tuple[bool, bool]:
        """Record that the worker is alive; returns (still ours, cancel requested)."""
        with self.sessions() as session:
            owned = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running", Job.attempts == attempt)
                .values(heartbeat_at=utcnow())
            ).rowcount
            cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
            session.commit()
        return bool(owned), bool(cancel)

    def cancel_requested(self, job_id: uuid.UUID) -> bool:
        """Whether a user asked to cancel the job."""
        with self.sessions() as session:
            return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    def progress(self, job_id: uuid.UUID, attempt: int, progress: dict[str, Any]) -> None:
        """Store the latest progress on the row and emit `job.progress`."""
        self._update(job_id, attempt, {"progress": progress}, "job.progress", progress)

    def log(self, job_id: uuid.UUID, attempt: int, message: str, level: str = "info") -> None:
        """Append a structured log entry (`job.log`)."""
        with self.sessions() as session:
            job = session.get(Job, job_id)
            if job is None or job.attempts != attempt:
                return
            self._commit_with_events(session, [self._event(job, "job.log", {"level": level, "message": message})])

    def succeed(
        self, job_id: uuid.UUID, attempt: int, metrics: dict[str, Any], artifacts: list[dict[str, Any]]
    ) -> bool:
        """Mark the job succeeded with its metrics and artifacts."""
        return self._finish(
            job_id, attempt, "succeeded", {"metrics": metrics, "artifacts": artifacts}, {"metrics": metrics}
        )

    def fail(self, job_id: uuid.UUID, attempt: int, error: str) -> bool:
        """Mark the job failed with the reason."""
        return self._finish(job_id, attempt, "failed", {"error": error}, {"error": error})

    def cancelled(self, job_id: uuid.UUID, attempt: int) -> bool:
        """Mark a running job cancelled (the user asked)."""
        return self._finish(job_id, attempt, "cancelled", {}, {"reason": "cancelled by request"})

    def add_clips(
        self,
        job_id: uuid.UUID,
        attempt: int,
        storage: Storage,
        items: list[tuple[NormalizedClip, str, str | None, str | None]],
        source: str = "synthetic",
    ) -> tuple[list[Clip], int] | None:
        """Store clips (audio, label, speaker, notes) into the job's dataset with their events.

        Audio the dataset already holds is skipped. Returns (the rows added, how many were skipped), or None if the
        job is no longer ours.
        """
        with self.sessions() as session:
            job = session.get(Job, job_id)
            if job is None or job.status != "running" or job.attempts != attempt or job.dataset_id is None:
                return None
            wanted = [item[0].sha256 for item in items]
            seen = set(
                session.scalars(select(Clip.sha256).where(Clip.dataset_id == job.dataset_id, Clip.sha256.in_(wanted)))
            )
            rows: list[tuple[Clip, bytes]] = []
            for audio, label, speaker, notes in items:
                if audio.sha256 in seen:
                    continue
                seen.add(audio.sha256)
                row = new_clip(
                    job.dataset_id,
                    audio,
                    label=label,
                    speaker=speaker,
                    notes=notes,
                    source=source,
                    filename=None,
                    position=len(rows),
                )
                rows.append((row, audio.wav_bytes))
            # Files first, rows second, as for uploads: a crash leaves only files without rows (reconcile).
            paths = [storage.clip_path(job.dataset_name, row.id) for row, _ in rows]
            writer = self._writers.setdefault(storage.root, WriterLease(storage.root))
            with writer.intent(paths):
                try:
                    for path, (_, data) in zip(paths, rows, strict=True):
                        atomic_write(path, data)
                    session.add_all(row for row, _ in rows)
                    session.flush()
                    events = [
                        new_event(
                            "dataset.clip_added",
                            dataset=job.dataset_name,
                            payload={"clip": msgspec.to_builtins(clip_fields(row, job.dataset_name))},
                        )
                        for row, _ in rows
                    ]
                    self._commit_with_events(session, events)
                except BaseException:
                    session.rollback()
                    for path in paths:
                        path.unlink(missing_ok=True)
                    raise
            return [row for row, _ in rows], len(items) - len(rows)

    def release(self, job_id: uuid.UUID, attempt: int, reason: str) -> bool:
        """Give a running job back to the queue (the worker is shutting down); it runs again as a new attempt."""
        values = {
            "status": "queued",
            "attempts": attempt + 1,
            "worker_hostname": None,
            "error": reason,
            # Not sent: the API's outbox sends the new attempt's message at its next pass.
            "sent_at": None,
        }
        payload = {"status": "queued", "attempt": attempt + 1, "reason": reason}
        return self._change(job_id, attempt, values, "job.retried", payload) is not None

    def _update(
        self, job_id: uuid.UUID, attempt: int, values: dict[str, Any], event_type: str, payload: dict[str, Any]
    ) -> bool:
        return self._change(job_id, attempt, values, event_type, payload) is not None

    def _change(
        self,
        job_id: uuid.UUID,
        attempt: int,
        values: dict[str, Any],
        event_type: str,
        payload: dict[str, Any],
        *,
        from_status: str = "running",
    ) -> Job | None:
        """Apply `values` if the job is still in `from_status` at this attempt, with its event; else None."""
        with self.sessions() as session:
            changed = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == from_status, Job.attempts == attempt)
                .values(**values, updated_at=utcnow())
            ).rowcount
            if not changed:
                session.rollback()
                return None
            job = session.get(Job, job_id)
            assert job is not None
            self._commit_with_events(session, [self._event(job, event_type, payload)])
            return job

    def _finish(
        self, job_id: uuid.UUID, attempt: int, status: str, values: dict[str, Any], payload: dict[str, Any]
    ) -> bool:
        now: datetime = utcnow()
        return self._update(
            job_id,
            attempt,
            {**values, "status": status, "finished_at": now},
            f"job.{status}",
            {**payload, "status": status},
        )

    @staticmethod
    def _event(job: Job, type_: str, payload: dict[str, Any]) -> Event:
        return new_event(type_, job_id=job.id, dataset=job.dataset_name, payload=payload)

    def _commit_with_events(self, session: Session, events: list[Event]) -> None:
        lock = event_order_lock(session.get_bind().dialect.name)
        if lock is not None:
            session.execute(lock)
        session.add_all(events)
        session.commit()
        for event in events:
            try:
                self.publisher(to_message(event))
            except Exception:  # the event is stored; clients catch up from the database
                log.warning("could not publish event %s", event.seq, exc_info=True)
