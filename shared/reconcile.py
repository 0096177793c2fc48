"""Bring the data volume back in line with the database after a crash (the database is the truth)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db.models import Clip, Dataset, Job
from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.settings import Settings
from shared.storage import JOB_INPUTS_PREFIX, ReconcileReport, Storage, reconcile_dataset, remove_tree
from shared.writers import dead_writers

# Another process may be between its file write and its commit right now; leave recent files alone.
DEFAULT_GRACE_S = 15 * 60


def _settled(path: Path, grace_s: float, now: float) -> bool:
    stat = path.stat()
    return now - max(stat.st_mtime, stat.st_ctime) >= grace_s


def reconcile_volume(session: Session, storage: Storage, *, grace_s: float = DEFAULT_GRACE_S) -> ReconcileReport:
    """Remove files without rows, move clips to where their rows say, and report clips without files.

    Files younger than `grace_s` are left alone, unless a process that died mid-write (see shared.writers) named
    them: those go at once.
    """
    total = ReconcileReport()
    now = time.time()
    total.removed_job_inputs = _remove_stale_job_inputs(session, storage, grace_s, now)
    dead = dead_writers(storage.root)
    datasets_root = storage.root / "datasets"
    if not datasets_root.is_dir():
        dead.forget()
        return total
    known = {name for (name,) in session.execute(select(Dataset.name))}
    for folder in datasets_root.iterdir():
        if folder.is_dir() and folder.name not in known and _settled(folder, grace_s, now):
            remove_tree(folder)
            total.removed_dataset_dirs += 1
    rows = session.execute(select(Dataset.name, Clip.id, Clip.deleted_at).join(Clip.dataset)).all()
    by_dataset: dict[str, dict[uuid.UUID, bool]] = {name: {} for name in known}
    for name, clip_id, deleted_at in rows:
        by_dataset[name][clip_id] = deleted_at is not None
    for name, clips in by_dataset.items():
        report = reconcile_dataset(
            storage, name, clips, settled=lambda path: path in dead.files or _settled(path, grace_s, now)
        )
        for field in ("removed_orphans", "moved_to_trash", "moved_to_clips", "missing_files"):
            setattr(total, field, getattr(total, field) + getattr(report, field))
    dead.forget()
    return total


def _remove_stale_job_inputs(session: Session, storage: Storage, grace_s: float, now: float) -> int:
    """Remove the clip links of job attempts that no longer run (their worker died before removing them)."""
    jobs_root = storage.root / "jobs"
    if not jobs_root.is_dir():
        return 0
    running = {
        job_id: attempt
        for job_id, attempt in session.execute(select(Job.id, Job.attempts).where(Job.status == "running"))
    }
    removed = 0
    for folder in jobs_root.glob(f"*/{JOB_INPUTS_PREFIX}*"):
        try:
            job_id = uuid.UUID(folder.parent.name)
            attempt = int(folder.name.removeprefix(JOB_INPUTS_PREFIX))
        except ValueError:
            continue
        # The grace period covers a worker that claimed its job after the query above and is linking now.
        if running.get(job_id) != attempt and _settled(folder, grace_s, now):
            remove_tree(folder)
            removed += 1
    return removed


def reconcile_configured_volume(settings: Settings, *, grace_s: float = DEFAULT_GRACE_S) -> ReconcileReport:
    """Reconcile the volume of `settings` against its database, with an engine of its own."""
    engine = create_sync_db_engine(settings.resolved_database_url)
    try:
        with sync_session_factory(engine)() as session:
            return reconcile_volume(session, Storage(settings.data_dir), grace_s=grace_s)
    finally:
        engine.dispose()
