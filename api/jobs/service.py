"""What job operations mean: submit with a clip snapshot, list, read, logs, cancel, artifacts, reaping."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.datasets.service import NEGATIVE_LABELS, DatasetService
from api.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from api.events.recorder import EventRecorder
from api.jobs import schemas
from api.jobs.dispatch import Dispatcher
from api.jobs.finetune import find_base_job
from api.synthesis.service import check_request, piper_voices
from api.validation import check_page, check_sequence, refuse_unstorable
from shared.db.base import utcnow
from shared.db.models import FINISHED_STATES, JOB_STATES, Clip, Dataset, Event, Job
from shared.settings import Settings
from shared.storage import Storage
from shared.training_config import (
    ConfigError,
    PresetDefinition,
    check_budget,
    check_finetune,
    config_to_dict,
    resolve_config,
)

MAX_LOG_PAGE = 1000


class JobService:
    """Job operations over one database session."""

    def __init__(
        self,
        session: AsyncSession,
        storage: Storage,
        settings: Settings,
        events: EventRecorder,
        dispatcher: Dispatcher,
        presets: dict[str, PresetDefinition],
    ) -> None:
        self.session = session
        self.storage = storage
        self.settings = settings
        self.events = events
        self.dispatcher = dispatcher
        self.presets = presets
        self.datasets = DatasetService(session, storage, settings, events)

    async def submit(self, request: schemas.TrainRequest) -> schemas.Job:
        """Record a queued job with the exact clips and resolved config, then hand it to a worker."""
        dataset = await self.datasets.get(request.dataset)
        base = await find_base_job(self.session, self.storage, request.config_overrides)
        try:
            config = resolve_config(
                request.preset, request.config_overrides, self.presets, base=base.config if base else None
            )
            if base is not None:
                check_finetune(config, base.config, (base.metrics or {}).get("front_end"), base.id)
            check_budget(
                config,
                max_batch_audio_s=self.settings.max_batch_audio_s,
                max_training_audio_h=self.settings.max_training_audio_h,
            )
        except ConfigError as exc:
            raise InvalidInput(str(exc)) from None
        rows = (
            await self.session.execute(
                select(Clip.id, Clip.sha256, Clip.label, Clip.speaker, Clip.source)
                # An unreviewed clip's label is a device's guess: a person must confirm it before it is trained on.
                .where(Clip.dataset_id == dataset.id, Clip.deleted_at.is_(None), Clip.review.is_(None))
                # Content order, not upload order or random ids: the same clips and seed train the same model.
                .order_by(Clip.sha256)
            )
        ).all()
        snapshot = [
            {"id": str(i), "sha256": s, "label": label, "speaker": sp, "source": source}
            for i, s, label, sp, source in rows
        ]
        positives = sum(1 for c in snapshot if c["label"] == "positive")
        negatives = sum(1 for c in snapshot if c["label"] in NEGATIVE_LABELS)
        need_pos, need_neg = self.settings.min_positive_clips, self.settings.min_negative_clips
        if positives < need_pos or negatives < need_neg:
            raise InvalidInput(
                f"dataset {dataset.name!r} has {positives} positive and {negatives} negative+noise clips; "
                f"training needs at least {need_pos} positive and {need_neg} negative+noise clips",
                positive_clips=positives,
                negative_clips=negatives,
                min_positive_clips=need_pos,
                min_negative_clips=need_neg,
            )
        config_dict = config_to_dict(config)
        job = _new_job(dataset, "train", config=config_dict, clips=snapshot, preset=config.preset, fingerprint=snapshot)
        await self._queue(job, {"config": config_dict, "clip_count": len(snapshot)})
        return self.to_schema(job)

    def list_presets(self) -> list[schemas.Preset]:
        """The presets POST /train takes, built-in and from WAKE_TRAINING_PRESETS, each with its whole config."""
        return [
            schemas.Preset(
                name=preset.name,
                description=preset.description,
                source=preset.source,
                config=config_to_dict(resolve_config(preset.name, None, self.presets)),
            )
            for preset in self.presets.values()
        ]

    async def submit_synthesis(self, dataset_name: str, request: schemas.SynthesizeRequest) -> schemas.Job:
        """Queue a job that synthesizes clips into the dataset (positives, near misses, noise)."""
        dataset = await self.datasets.get(dataset_name)
        if request.phrase is None and dataset.wake_phrase is None:
            raise InvalidInput(
                f"dataset {dataset.name!r} has no wake phrase; give `phrase`, or set the dataset's wake_phrase "
                f"with PATCH /datasets/{dataset.name}"
            )
        phrase = " ".join(refuse_unstorable(request.phrase or dataset.wake_phrase or "", "phrase").split())
        refuse_unstorable(request.language, "language")
        for voice in request.voices or []:
            refuse_unstorable(voice, "voices")
        if not phrase:
            raise InvalidInput("phrase is empty; give the wake phrase to synthesize, e.g. 'hey jarvis'")
        await self._check_voices(request)
        negatives = 2 * request.count if request.negatives is None else request.negatives
        noise = max(1, request.count // 10) if request.noise is None else request.noise
        total, limit = request.count + negatives + noise, self.settings.max_synthesis_clips
        if total > limit:
            raise InvalidInput(
                f"{request.count} positives, {negatives} negatives and {noise} noise clips make {total} clips; one "
                f"synthesize job makes at most {limit} (WAKE_TRAINING_MAX_SYNTHESIS_CLIPS): split it into several jobs"
            )
        config = {
            "phrase": phrase,
            "language": request.language,
            "positives": request.count,
            "negatives": negatives,
            "noise": noise,
            "seed": request.seed,
            "voices": request.voices,
            "engines": request.engines,
        }
        job = _new_job(dataset, "synthesize", config=config, clips=[], fingerprint=config)
        await self._queue(job, {"config": config})
        return self.to_schema(job)

    async def _check_voices(self, request: schemas.SynthesizeRequest) -> None:
        """422 now, not a failed job later, for a language or voice the engines (or the voices folder) lack."""
        folder = self.settings.resolved_piper_voices_dir
        check_request(request, await piper_voices(folder), folder)

    async def _queue(self, job: Job, payload: dict) -> None:
        """Write the job row and its `job.queued` event, then hand the job to a worker."""
        self.session.add(job)
        await self.session.flush()
        await self.events.add(
            "job.queued",
            job_id=job.id,
            dataset=job.dataset_name,
            payload={"status": "queued", "kind": job.kind, **payload},
        )
        await self.session.commit()
        await self.events.publish()
        try:
            await self.dispatcher.enqueue(job.id, job.attempts)
        except Exception as exc:  # the broker's failure is reported on the job and to the client
            # Only while still queued: a send that failed late may have arrived, and a worker may have the job.
            if not await self._finish(job, "failed", error=f"could not queue the job: {exc}", expect_status="queued"):
                await self.session.refresh(job)
                return
            raise ServiceUnavailable(
                f"the job queue (broker) did not accept the job: {exc}; job {job.id} is marked failed, "
                "check WAKE_TRAINING_BROKER_URL and try again",
                job_id=str(job.id),
            ) from None

    async def list(self, *, dataset: str | None, status: str | None, limit: int, offset: int) -> schemas.JobPage:
        """Jobs newest first, filtered by dataset and status."""
        if status is not None and status not in JOB_STATES:
            raise InvalidInput(f"unknown status {status!r}; use one of: {', '.join(JOB_STATES)}")
        check_page(limit, offset)
        conditions = []
        if dataset is not None:
            conditions.append(Job.dataset_name == dataset)
        if status is not None:
            conditions.append(Job.status == status)
        total = await self.session.scalar(select(func.count()).select_from(Job).where(*conditions))
        jobs = await self.session.scalars(
            select(Job).where(*conditions).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
        )
        return schemas.JobPage(items=[self.to_schema(j) for j in jobs], total=total or 0, limit=limit, offset=offset)

    async def get(self, job_id: uuid.UUID) -> Job:
        """The job, or NotFound."""
        job = await self.session.get(Job, job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist; list jobs with GET /jobs")
        return job

    async def read(self, job_id: uuid.UUID) -> schemas.Job:
        """One job."""
        return self.to_schema(await self.get(job_id))

    async def logs(self, job_id: uuid.UUID, *, after: int, limit: int) -> schemas.LogPage:
        """The job's log entries with a sequence number above `after`."""
        await self.get(job_id)
        if not 1 <= limit <= MAX_LOG_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_LOG_PAGE}")
        check_sequence(after, "after")
        rows = (
            await self.session.scalars(
                select(Event)
                .where(Event.job_id == job_id, Event.type == "job.log", Event.seq > after)
                .order_by(Event.seq)
                .limit(limit)
            )
        ).all()
        items = [
            schemas.LogEntry(
                seq=r.seq, ts=r.ts, level=str(r.payload.get("level", "info")), message=str(r.payload.get("message", ""))
            )
            for r in rows
        ]
        return schemas.LogPage(items=items, next_after=items[-1].seq if items else after)

    async def cancel(self, job_id: uuid.UUID) -> schemas.Job:
        """A queued job is cancelled at once; a running one is asked to stop at its next training step."""
        job = await self.get(job_id)
        if job.status in FINISHED_STATES:
            raise Conflict(f"job {job_id} already {job.status}; there is nothing to cancel")
        if job.status == "queued":
            cancelled = await self._finish(job, "cancelled", expect_status="queued")
            if cancelled:
                return self.to_schema(job)
            await self.session.refresh(job)
            if job.status in FINISHED_STATES:
                return self.to_schema(job)
        await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "running")
            .values(cancel_requested=True, updated_at=utcnow())
        )
        await self.events.add(
            "job.cancel_requested", job_id=job.id, dataset=job.dataset_name, payload={"status": job.status}
        )
        await self.session.commit()
        await self.events.publish()
        await self.session.refresh(job)
        return self.to_schema(job)

    async def artifact_file(self, job_id: uuid.UUID, name: str) -> tuple[Path, str]:
        """The file of one listed artifact of a succeeded job, and the name to save it as."""
        job = await self.get(job_id)
        if job.status != "succeeded":
            raise NotFound(f"job {job_id} is {job.status}; artifacts exist once it has succeeded")
        if name not in {a["name"] for a in job.artifacts}:
            listed = ", ".join(a["name"] for a in job.artifacts)
            raise NotFound(f"job {job_id} has no artifact {name!r}; it has: {listed}")
        path = self.storage.job_export_dir(job_id) / name
        if not path.is_file():
            raise NotFound(f"artifact {name!r} of job {job_id} is missing on the data volume")
        return path, download_name(job.dataset_name, job.id, name)

    async def reap(self) -> list[tuple[uuid.UUID, int]]:
        """Retry or fail running jobs whose worker stopped sending heartbeats; returns the attempts queued again."""
        cutoff = utcnow() - timedelta(seconds=self.settings.heartbeat_timeout_s)
        stale = (
            await self.session.scalars(
                select(Job).where(
                    Job.status == "running",
                    or_(Job.heartbeat_at < cutoff, Job.heartbeat_at.is_(None)),
                )
            )
        ).all()
        retries = []
        for job in stale:
            # Read before the UPDATE: it refreshes the in-session object with the new values.
            attempt, hostname, heartbeat = job.attempts, job.worker_hostname, job.heartbeat_at
            reason = f"worker {hostname or '?'} lost (last heartbeat {heartbeat.isoformat() if heartbeat else 'never'})"
            if attempt >= self.settings.max_attempts:
                await self._finish(
                    job,
                    "failed",
                    error=f"{reason}; gave up after {attempt} attempts",
                    expect_status="running",
                    commit=False,
                )
                continue
            moved = await self.session.execute(
                update(Job)
                .where(Job.id == job.id, Job.status == "running", Job.attempts == attempt)
                # Not sent yet: the outbox pass that follows sends the new attempt (and retries until it is).
                .values(status="queued", attempts=attempt + 1, worker_hostname=None, error=reason, sent_at=None)
            )
            if moved.rowcount:
                await self.events.add(
                    "job.retried",
                    job_id=job.id,
                    dataset=job.dataset_name,
                    payload={"status": "queued", "attempt": attempt + 1, "reason": reason},
                )
                retries.append((job.id, attempt + 1))
        await self.session.commit()
        await self.events.publish()
        return retries

    async def queued_attempts(self, *, sent_before: datetime | None = None) -> list[tuple[uuid.UUID, int]]:
        """Queued jobs' current attempts, oldest first: all, or those not sent since `sent_before` (or never)."""
        conditions = [Job.status == "queued"]
        if sent_before is not None:
            conditions.append(or_(Job.sent_at.is_(None), Job.sent_at < sent_before))
        rows = await self.session.execute(select(Job.id, Job.attempts).where(*conditions).order_by(Job.created_at))
        return [(job_id, attempts) for job_id, attempts in rows]

    async def mark_sent(self, job_id: uuid.UUID, attempt: int) -> None:
        """Record that this attempt's message was just handed to the broker (if the job still waits for it)."""
        await self.session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued", Job.attempts == attempt)
            # Sending again changes nothing a user sees, so the row's updated_at stays.
            .values(sent_at=utcnow(), updated_at=Job.updated_at)
        )
        await self.session.commit()

    async def _finish(
        self,
        job: Job,
        status: str,
        *,
        error: str | None = None,
        expect_status: str | None = None,
        commit: bool = True,
    ) -> bool:
        conditions = [Job.id == job.id]
        if expect_status is not None:
            conditions.append(Job.status == expect_status)
        now = utcnow()
        changed = await self.session.execute(
            update(Job).where(*conditions).values(status=status, error=error, finished_at=now, updated_at=now)
        )
        if not changed.rowcount:
            return False
        payload = {"status": status, **({"error": error} if error else {})}
        await self.events.add(f"job.{status}", job_id=job.id, dataset=job.dataset_name, payload=payload)
        if commit:
            await self.session.commit()
            await self.events.publish()
            await self.session.refresh(job)
        return True

    def to_schema(self, job: Job) -> schemas.Job:
        """The job as the API shows it."""
        base = f"/jobs/{job.id}"
        return schemas.Job(
            id=job.id,
            dataset=job.dataset_name,
            kind=job.kind,
            status=job.status,
            preset=job.preset,
            config=job.config,
            clip_count=len(job.clips),
            snapshot_sha256=job.snapshot_sha256,
            attempts=job.attempts,
            cancel_requested=job.cancel_requested,
            error=job.error,
            worker_hostname=job.worker_hostname,
            progress=job.progress or {},
            metrics=job.metrics or {},
            artifacts=[
                schemas.Artifact(
                    name=a["name"], size=a["size"], sha256=a["sha256"], url=f"{base}/artifacts/{a['name']}"
                )
                for a in (job.artifacts or [])
            ]
            if job.status == "succeeded"
            else [],
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            heartbeat_at=job.heartbeat_at,
            events_url=f"{base}/events",
            logs_url=f"{base}/logs",
        )


def download_name(dataset: str, job_id: uuid.UUID, name: str) -> str:
    """The name a downloaded artifact is saved as: which dataset and job it came from, e.g. kitchen-3f2a9c1e-model.onnx.

    A downloads folder then holds the models of several jobs side by side; the dashboard names its links alike.
    """
    return f"{dataset}-{job_id.hex[:8]}-{name}"


def _new_job(
    dataset: Dataset, kind: str, *, config: dict, clips: list[dict], fingerprint: object, preset: str | None = None
) -> Job:
    """A queued first attempt; its snapshot hash is of `fingerprint` (the clips it trains on, or what it makes)."""
    return Job(
        id=uuid.uuid4(),
        dataset_id=dataset.id,
        dataset_name=dataset.name,
        kind=kind,
        status="queued",
        preset=preset,
        config=config,
        clips=clips,
        snapshot_sha256=hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest(),
        attempts=1,
        # Marked sent in the row's own transaction: if the process dies before the send that follows the commit,
        # the outbox sends it once this mark is old (or at the next start of any API process).
        sent_at=utcnow(),
    )
