"""Who is writing clip files right now, so that a crash's leftovers can be told from a write in progress.

Clip files are written before their rows are committed. A process killed in between leaves files without rows;
reconcile removes them, but could only tell them from another process's write in progress by their age (15
minutes). A `WriterLease` says more: its process holds a lock on a file under `writers/` on the volume for as long
as it lives, and notes the files each write is about to create (an intent) until their rows are committed or the
files removed. Whoever can take a lease's lock knows its process is gone: the files of its intents that have no
rows are leftovers, whatever their age.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.storage import atomic_write

WRITERS_DIR = "writers"
_LOCK = "lock"
_INTENT_SUFFIX = ".intent"


class WriterLease:
    """This process's lease on the volume; made lazily, again after a fork (a child must not share its parent's)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pid: int | None = None
        self._folder: Path | None = None
        self._lock_file: object | None = None

    @contextlib.contextmanager
    def intent(self, paths: list[Path]) -> Iterator[None]:
        """Note `paths` as being written by this process until the block ends (rows committed or files removed)."""
        folder = self._own_folder()
        note = folder / f"{uuid.uuid4().hex}{_INTENT_SUFFIX}"
        atomic_write(note, "\n".join(str(path.relative_to(self.root)) for path in paths).encode())
        try:
            yield
        finally:
            note.unlink(missing_ok=True)

    def _own_folder(self) -> Path:
        if self._pid != os.getpid() or self._folder is None:
            folder = self.root / WRITERS_DIR / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            folder.mkdir(parents=True, exist_ok=True)
            lock_file = open(folder / _LOCK, "w")  # noqa: SIM115 - held open for the life of the process
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._pid, self._folder, self._lock_file = os.getpid(), folder, lock_file
        return self._folder


@dataclass
class DeadWriters:
    """The leases whose processes are gone, and the files their unfinished writes named."""

    folders: list[Path] = field(default_factory=list)
    files: set[Path] = field(default_factory=set)

    def forget(self) -> None:
        """Remove the dead leases (after reconcile dealt with their files)."""
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)


def dead_writers(root: Path) -> DeadWriters:
    """Find the leases on the volume whose lock nobody holds any more (their process died)."""
    found = DeadWriters()
    writers = root / WRITERS_DIR
    if not writers.is_dir():
        return found
    for folder in writers.iterdir():
        lock = folder / _LOCK
        if not lock.is_file() or not _abandoned(lock):
            continue
        found.folders.append(folder)
        for note in folder.glob(f"*{_INTENT_SUFFIX}"):
            found.files.update(root / line for line in note.read_text().splitlines() if line)
    return found


def _abandoned(lock: Path) -> bool:
    with open(lock) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True
