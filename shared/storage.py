"""The data volume's layout and its atomic writes, moves and crash reconciliation."""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TMP_PREFIX = ".tmp-"
JOB_INPUTS_PREFIX = "inputs-"
# A clip can be deleted and restored while a job pins it: each try looks in clips/ then trash/.
PIN_TRIES = 5
# Where a volume cannot hard-link (another file system, some network shares), the clip is copied.
_NO_LINK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK}


@dataclass(frozen=True)
class Storage:
    """Paths on the data volume: `datasets/<name>/{clips,trash}/<clip_id>.wav`, `jobs/<job_id>/{export,inputs-N}/`."""

    root: Path

    def ensure(self) -> None:
        """Create the top-level folders."""
        (self.root / "datasets").mkdir(parents=True, exist_ok=True)
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)

    def dataset_dir(self, dataset: str) -> Path:
        """The folder that holds one dataset's files."""
        return self.root / "datasets" / dataset

    def clips_dir(self, dataset: str) -> Path:
        """Where a dataset's active clips lie."""
        return self.dataset_dir(dataset) / "clips"

    def trash_dir(self, dataset: str) -> Path:
        """Where a dataset's soft-deleted clips lie."""
        return self.dataset_dir(dataset) / "trash"

    def clip_path(self, dataset: str, clip_id: uuid.UUID, *, deleted: bool = False) -> Path:
        """The file of one clip, in clips/ or trash/."""
        folder = self.trash_dir(dataset) if deleted else self.clips_dir(dataset)
        return folder / f"{clip_id}.wav"

    def job_dir(self, job_id: uuid.UUID) -> Path:
        """The folder of one job's files."""
        return self.root / "jobs" / str(job_id)

    def job_export_dir(self, job_id: uuid.UUID) -> Path:
        """Where a training job's artifacts are exported."""
        return self.job_dir(job_id) / "export"

    def job_inputs_dir(self, job_id: uuid.UUID, attempt: int) -> Path:
        """Where one attempt of a job keeps its own links to the clips it trains on."""
        # One folder per attempt: a worker presumed lost may still be cleaning up its own.
        return self.job_dir(job_id) / f"{JOB_INPUTS_PREFIX}{attempt}"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def durable_move(src: Path, dst: Path) -> None:
    """Move a file within the volume by rename, and make the rename survive a power loss."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    _fsync_dir(dst.parent)
    if src.parent != dst.parent:
        _fsync_dir(src.parent)


class ClipGone(FileNotFoundError):
    """A clip's file is in neither clips/ nor trash/ (the trash was emptied, or the dataset deleted)."""


def pin_clip(storage: Storage, dataset: str, clip_id: uuid.UUID, dest: Path) -> None:
    """Give `dest` the clip's bytes as they are now, wherever a delete or restore moves (or removes) the clip later.

    A hard link shares the file's data: moving the clip between clips/ and trash/ renames only its
    other name, and emptying the trash leaves this one. Raises ClipGone when the file is not found.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(PIN_TRIES):
        for deleted in (False, True):
            try:
                _link_or_copy(storage.clip_path(dataset, clip_id, deleted=deleted), dest)
                return
            except FileNotFoundError:
                continue  # moved by a delete or restore in between: look in the other folder
    raise ClipGone(
        f"clip {clip_id} of dataset {dataset!r} is in neither clips/ nor trash/ on the data volume "
        "(its trash was emptied or the dataset deleted)"
    )


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError as exc:
        if exc.errno not in _NO_LINK_ERRNOS:
            raise
        # Opening pins the file too: a rename while it is copied does not disturb an open descriptor.
        with open(src, "rb") as source, open(dest, "wb") as target:
            shutil.copyfileobj(source, target)


def remove_tree(folder: Path) -> None:
    """Remove a folder and everything in it, if it exists."""
    shutil.rmtree(folder, ignore_errors=True)


@dataclass
class ReconcileReport:
    """What reconciling the volume against the database changed."""

    removed_orphans: int = 0
    moved_to_trash: int = 0
    moved_to_clips: int = 0
    removed_dataset_dirs: int = 0
    missing_files: int = 0
    removed_job_inputs: int = 0


def reconcile_dataset(
    storage: Storage,
    dataset: str,
    clips: dict[uuid.UUID, bool],
    settled: Callable[[Path], bool] = lambda _: True,
) -> ReconcileReport:
    """Make one dataset's files agree with its rows (`clip id -> deleted`), the database being the truth.

    Only files for which `settled(path)` holds are touched, so that a file another process is
    about to commit a row for is left alone.

    A crash can leave a file written but its row never committed (an orphan: removed), or a row
    committed but its file not yet moved between clips/ and trash/ (moved where the row says).
    """
    report = ReconcileReport()
    for folder, in_trash in ((storage.clips_dir(dataset), False), (storage.trash_dir(dataset), True)):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if not settled(path):
                continue
            if path.name.startswith(TMP_PREFIX):
                path.unlink(missing_ok=True)
                continue
            try:
                clip_id = uuid.UUID(path.stem)
            except ValueError:
                continue
            if clip_id not in clips:
                path.unlink(missing_ok=True)
                report.removed_orphans += 1
            elif clips[clip_id] != in_trash:
                durable_move(path, storage.clip_path(dataset, clip_id, deleted=clips[clip_id]))
                if clips[clip_id]:
                    report.moved_to_trash += 1
                else:
                    report.moved_to_clips += 1
    for clip_id, deleted in clips.items():
        if not storage.clip_path(dataset, clip_id, deleted=deleted).exists():
            report.missing_files += 1
    return report
