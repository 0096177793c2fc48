"""Run one attempt of a training job: the body shared by the Celery task and the embedded worker."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import json
import logging
import os
import platform
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.db.models import Job
from shared.settings import Settings
from shared.storage import JOB_INPUTS_PREFIX, ClipGone, Storage, atomic_write, pin_clip
from shared.training_config import TrainingConfig, resolve_config
from worker.jobs import JobStore

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.25


@dataclass
class StopFlags:
    """Why training should stop: a cancel request, a lost claim, a worker shutdown, or the job's time limit."""

    cancel: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    shutdown: threading.Event = field(default_factory=threading.Event)
    overtime: threading.Event = field(default_factory=threading.Event)

    def any(self) -> bool:
        return any(flag.is_set() for flag in (self.cancel, self.lost, self.shutdown, self.overtime))


class _Watch(threading.Thread):
    """Polls the job row: writes heartbeats, notices cancel requests and a lost claim quickly, and the time limit."""

    def __init__(
        self, store: JobStore, job_id: uuid.UUID, attempt: int, flags: StopFlags, heartbeat_s: float, limit_s: float
    ) -> None:
        super().__init__(name=f"job-watch-{job_id}", daemon=True)
        self.store, self.job_id, self.attempt, self.flags = store, job_id, attempt, flags
        self.heartbeat_s, self.limit_s = heartbeat_s, limit_s
        self.done = threading.Event()

    def run(self) -> None:
        polls_per_beat = max(1, round(self.heartbeat_s / CANCEL_POLL_S))
        # The embedded worker has no Celery time limit: the limit is kept here, the same in both modes.
        deadline = time.monotonic() + self.limit_s
        tick = 0
        while not self.done.wait(CANCEL_POLL_S):
            tick += 1
            if time.monotonic() > deadline:
                self.flags.overtime.set()
            try:
                if tick % polls_per_beat == 0:
                    owned, cancel = self.store.heartbeat(self.job_id, self.attempt)
                    if not owned:
                        self.flags.lost.set()
                else:
                    cancel = self.store.cancel_requested(self.job_id)
                if cancel:
                    self.flags.cancel.set()
            except Exception:  # a database hiccup must not kill the job; the reaper judges liveness
                log.warning("job %s: heartbeat failed", self.job_id, exc_info=True)


class _Hooks:
    """The trainer's view of the job: progress and logs go to the store, stops come from the flags."""

    def __init__(self, store: JobStore, job_id: uuid.UUID, attempt: int, flags: StopFlags) -> None:
        self.store, self.job_id, self.attempt, self.flags = store, job_id, attempt, flags

    def progress(
        self, *, epoch: int, epochs: int, step: int, total_steps: int, loss: float, metrics: dict[str, float]
    ) -> None:
        self.store.progress(
            self.job_id,
            self.attempt,
            {
                "epoch": epoch,
                "epochs": epochs,
                "step": step,
                "total_steps": total_steps,
                "fraction": round(step / total_steps, 4) if total_steps else 0.0,
                "loss": loss,
                "metrics": metrics,
            },
        )

    def log(self, message: str, level: str = "info") -> None:
        self.store.log(self.job_id, self.attempt, message, level)

    def should_stop(self) -> bool:
        return self.flags.any()


def run_job(
    job_id: uuid.UUID,
    attempt: int,
    *,
    settings: Settings,
    store: JobStore,
    hostname: str,
    shutdown: threading.Event | None = None,
    threads: int = 1,
) -> str:
    """Run one attempt of a job and record how it ended; returns the final status, or 'skipped'."""
    job = store.claim(job_id, attempt, hostname)
    if job is None:
        log.info("job %s attempt %s is not queued for us; skipping", job_id, attempt)
        return "skipped"
    flags = StopFlags(shutdown=shutdown or threading.Event())
    heartbeat_s = max(CANCEL_POLL_S, settings.heartbeat_timeout_s / 4)
    watch = _Watch(store, job_id, attempt, flags, heartbeat_s=heartbeat_s, limit_s=settings.job_time_limit_s)
    watch.start()
    storage = Storage(settings.data_dir)
    export_dir = storage.job_export_dir(job_id)
    partial = export_dir.with_name(f"export.partial-{attempt}")
    inputs = storage.job_inputs_dir(job_id, attempt)
    try:
        if job.kind == "synthesize":
            return _synthesize(job, attempt, store, flags, settings)
        if job.kind == "evaluate":
            return _evaluate(job, attempt, store, flags, storage, partial, inputs, export_dir, settings)
        return _train_and_export(job, attempt, store, flags, storage, partial, inputs, export_dir, threads, settings)
    except Exception as exc:  # any failure ends the job as failed, with its reason
        log.exception("job %s failed", job_id)
        store.fail(job_id, attempt, f"{type(exc).__name__}: {exc}")
        return "failed"
    finally:
        watch.done.set()
        watch.join(5)
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(inputs, ignore_errors=True)
        _return_freed_memory()


def _return_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc): the embedded worker lives in the API's process, and a
    large job's thousands of clip-sized arrays would otherwise keep it hundreds of MB bigger for good."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _train_and_export(
    job: Job,
    attempt: int,
    store: JobStore,
    flags: StopFlags,
    storage: Storage,
    partial: Path,
    inputs: Path,
    export_dir: Path,
    threads: int,
    settings: Settings,
) -> str:
    import torch

    from worker.training.export import CHECKPOINT
    from worker.training.trainer import TrainingClip, TrainingStopped, train

    torch.set_num_threads(max(1, threads))
    hooks = _Hooks(store, job.id, attempt, flags)
    config: TrainingConfig = resolve_config(None, job.config)
    clips = pin_snapshot(job, storage, inputs)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    hooks.log(f"attempt {attempt} on {platform.node()} ({device}, {threads} threads): {len(clips)} clips")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        result = train(
            [
                TrainingClip(
                    clip_id=c["id"], path=path, label=c["label"], speaker=c.get("speaker"), source=c.get("source")
                )
                for c, path in clips
            ],
            config,
            partial,
            hooks,
            device=device,
            cache_dir=settings.resolved_cache_dir,
            base_checkpoint=storage.job_export_dir(config.base_job) / CHECKPOINT if config.base_job else None,
        )
    except TrainingStopped:
        return _stopped(job, attempt, store, flags, settings)
    artifacts = _write_manifest(partial, job)
    _publish_export(partial, export_dir)
    if not store.succeed(job.id, attempt, result.metrics, artifacts):
        return "lost"
    return "succeeded"


def _synthesize(job: Job, attempt: int, store: JobStore, flags: StopFlags, settings: Settings) -> str:
    from worker.synth_job import run_synthesis

    status = run_synthesis(
        job, attempt, store=store, settings=settings, hooks=_Hooks(store, job.id, attempt, flags), stop=flags.any
    )
    return _stopped(job, attempt, store, flags, settings) if status == "stopped" else status


def _evaluate(
    job: Job,
    attempt: int,
    store: JobStore,
    flags: StopFlags,
    storage: Storage,
    partial: Path,
    inputs: Path,
    export_dir: Path,
    settings: Settings,
) -> str:
    from worker.evaluate_job import run_evaluation

    hooks = _Hooks(store, job.id, attempt, flags)
    clips = pin_snapshot(job, storage, inputs)
    shutil.rmtree(partial, ignore_errors=True)
    metrics, _ = run_evaluation(job, clips, storage=storage, partial=partial, hooks=hooks)
    if flags.any():
        return _stopped(job, attempt, store, flags, settings)
    artifacts = _write_manifest(partial, job)
    _publish_export(partial, export_dir)
    return "succeeded" if store.succeed(job.id, attempt, metrics, artifacts) else "lost"


def _stopped(job: Job, attempt: int, store: JobStore, flags: StopFlags, settings: Settings) -> str:
    """Record why a job stopped early: cancelled, out of time, handed back on shutdown, or (lost) nothing to record."""
    if flags.cancel.is_set():
        store.cancelled(job.id, attempt)
        return "cancelled"
    if flags.overtime.is_set() and not flags.lost.is_set():
        limit = settings.job_time_limit_s
        store.fail(job.id, attempt, f"the job ran past its time limit of {limit:g} s (WAKE_TRAINING_JOB_TIME_LIMIT_S)")
        return "failed"
    if flags.shutdown.is_set() and not flags.lost.is_set():
        store.release(job.id, attempt, "the worker shut down during the job; it will run again")
        return "queued"
    return "lost"


def pin_snapshot(job: Job, storage: Storage, folder: Path) -> list[tuple[dict[str, Any], Path]]:
    """Link the files of the job's snapshot into `folder`, checked against their sha256 at submission.

    The job trains on these links, so a clip deleted (moved to trash/) or restored while the job
    starts or runs is still read; ClipGone if a clip's file is gone from the volume altogether.
    """
    # Earlier attempts' links too: their workers were presumed lost, and nothing they do counts any more.
    for stale in folder.parent.glob(f"{JOB_INPUTS_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    found = []
    for clip in job.clips:
        clip_id = uuid.UUID(clip["id"])
        path = folder / f"{clip_id}.wav"
        try:
            pin_clip(storage, job.dataset_name, clip_id, path)
        except ClipGone as exc:
            raise ClipGone(f"{exc}; start a new job to train on the dataset's clips as they are now") from None
        if hashlib.sha256(path.read_bytes()).hexdigest() != clip["sha256"]:
            raise ValueError(f"clip {clip_id} changed on the data volume since the job was submitted")
        found.append((clip, path))
    return found


def _write_manifest(folder: Path, job: Job) -> list[dict[str, Any]]:
    import onnx
    import onnxruntime
    import torch

    artifacts = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        artifacts.append({"name": path.name, "size": path.stat().st_size, "sha256": digest})
    manifest = {
        "job_id": str(job.id),
        "dataset": job.dataset_name,
        "snapshot_sha256": job.snapshot_sha256,
        "files": artifacts,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
    }
    atomic_write(folder / "manifest.json", json.dumps(manifest, indent=2).encode())
    data = (folder / "manifest.json").read_bytes()
    return [*artifacts, {"name": "manifest.json", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}]


def _publish_export(partial: Path, export_dir: Path) -> None:
    """Make the finished export visible in one rename, after every file in it is on disk."""
    for path in partial.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    if export_dir.exists():
        shutil.rmtree(export_dir)
    os.replace(partial, export_dir)
