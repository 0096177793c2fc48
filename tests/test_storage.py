"""The data volume: atomic writes, and reconciling files with rows after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import update

from shared.db.models import Clip
from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.reconcile import DEFAULT_GRACE_S, reconcile_configured_volume
from shared.settings import Settings
from shared.storage import ReconcileReport, Storage, atomic_write
from shared.writers import WRITERS_DIR, WriterLease
from tests.audio_factory import wav_bytes
from tests.conftest import add_clips, create_dataset, upload


def test_atomic_write_replaces_whole_files_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "a" / "clip.wav"
    atomic_write(target, b"first")
    atomic_write(target, b"second version")

    assert target.read_bytes() == b"second version"
    assert [p.name for p in target.parent.iterdir()] == ["clip.wav"]


def test_atomic_write_that_fails_midway_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "clip.wav"
    atomic_write(target, b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")

    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.wav"]


def _reconcile(settings: Settings, grace_s: float = 0) -> ReconcileReport:
    return reconcile_configured_volume(settings, grace_s=grace_s)


def test_reconcile_makes_files_follow_the_rows(client: TestClient, settings: Settings) -> None:
    create_dataset(client, "kitchen")
    kept, trashed, lost = add_clips(client, "kitchen", 3)
    client.delete(f"/datasets/kitchen/recordings/{trashed['id']}")
    storage = Storage(settings.data_dir)
    # What a crash can leave: a file whose row was never committed, a temp file, a move that
    # happened while its commit did not, and the folder of a dataset whose row is gone.
    orphan = storage.clip_path("kitchen", uuid.uuid4())
    atomic_write(orphan, wav_bytes(seed=99))
    (storage.clips_dir("kitchen") / ".tmp-abandoned").write_bytes(b"partial")
    os.replace(
        storage.clip_path("kitchen", uuid.UUID(trashed["id"]), deleted=True),
        storage.clip_path("kitchen", uuid.UUID(trashed["id"])),
    )
    os.replace(
        storage.clip_path("kitchen", uuid.UUID(kept["id"])),
        storage.clip_path("kitchen", uuid.UUID(kept["id"]), deleted=True),
    )
    atomic_write(storage.clip_path("gone", uuid.uuid4()), b"left over")
    storage.clip_path("kitchen", uuid.UUID(lost["id"])).unlink()

    report = _reconcile(settings)

    assert (report.removed_orphans, report.moved_to_trash, report.moved_to_clips) == (1, 1, 1)
    assert (report.removed_dataset_dirs, report.missing_files) == (1, 1)
    assert sorted(p.name for p in storage.clips_dir("kitchen").iterdir()) == [f"{kept['id']}.wav"]
    assert sorted(p.name for p in storage.trash_dir("kitchen").iterdir()) == [f"{trashed['id']}.wav"]
    assert not storage.dataset_dir("gone").exists()


def test_reconcile_leaves_files_younger_than_the_grace_period_alone(client: TestClient, settings: Settings) -> None:
    create_dataset(client, "kitchen")
    storage = Storage(settings.data_dir)
    in_flight = storage.clip_path("kitchen", uuid.uuid4())
    atomic_write(in_flight, wav_bytes(seed=5))

    report = _reconcile(settings, grace_s=600)

    assert report.removed_orphans == 0
    assert in_flight.exists()


def test_a_soft_delete_whose_commit_fails_leaves_the_file_in_place(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    create_dataset(client, "kitchen")
    [clip] = add_clips(client, "kitchen", 1)

    async def failing_commit(self: AsyncSession) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    assert client.delete(f"/datasets/kitchen/recordings/{clip['id']}").status_code == 500
    monkeypatch.undo()

    storage = Storage(settings.data_dir)
    assert storage.clip_path("kitchen", uuid.UUID(clip["id"])).is_file()
    assert not storage.clip_path("kitchen", uuid.UUID(clip["id"]), deleted=True).exists()
    assert client.get(f"/datasets/kitchen/recordings/{clip['id']}").json()["deleted"] is False


def test_rows_marked_deleted_elsewhere_get_their_files_moved(client: TestClient, settings: Settings) -> None:
    create_dataset(client, "kitchen")
    [clip] = add_clips(client, "kitchen", 1)
    engine = create_sync_db_engine(settings.resolved_database_url)
    with sync_session_factory(engine)() as session:
        from shared.db.base import utcnow

        session.execute(update(Clip).where(Clip.id == uuid.UUID(clip["id"])).values(deleted_at=utcnow()))
        session.commit()
    engine.dispose()

    assert _reconcile(settings).moved_to_trash == 1
    assert Storage(settings.data_dir).clip_path("kitchen", uuid.UUID(clip["id"]), deleted=True).is_file()


_KILLED_WRITER = """
import sys, time, uuid
from pathlib import Path
from shared.storage import Storage, atomic_write
from shared.writers import WriterLease
root = Path(sys.argv[1])
storage = Storage(root)
paths = [storage.clip_path("kitchen", uuid.uuid4()) for _ in range(2)]
with WriterLease(root).intent(paths):
    for path in paths:
        atomic_write(path, b"RIFF written, row never committed")
    print("written", flush=True)
    time.sleep(60)
"""


@pytest.mark.faults
def test_files_of_a_writer_killed_before_its_commit_are_removed_at_once(client: TestClient, settings: Settings) -> None:
    """A process killed mid-upload leaves files without rows; reconcile knows its writer is gone, so they go at
    once, while a live writer's files of the same age stay."""
    create_dataset(client, "kitchen")
    [stored] = add_clips(client, "kitchen", 1)
    storage = Storage(settings.data_dir)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(settings.data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "written"
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    live = storage.clip_path("kitchen", uuid.uuid4())
    with WriterLease(settings.data_dir).intent([live]):
        atomic_write(live, b"being written by a process that lives")

        report = _reconcile(settings, grace_s=DEFAULT_GRACE_S)

        assert report.removed_orphans == 2
        assert sorted(p.name for p in storage.clips_dir("kitchen").iterdir()) == sorted(
            [f"{stored['id']}.wav", live.name]
        )
    # The dead writer's lease is gone; the live ones (this process's, the app's) stay.
    assert not [p for p in (settings.data_dir / WRITERS_DIR).iterdir() if f"-{child.pid}-" in p.name]
    assert not list((settings.data_dir / WRITERS_DIR).glob("*/*.intent"))


def test_uploads_leave_no_intent_behind_whether_stored_or_refused(client: TestClient, settings: Settings) -> None:
    create_dataset(client, "kitchen")
    add_clips(client, "kitchen", 2)
    duplicate = upload(client, "kitchen", [("again.wav", wav_bytes(seed=0))])
    assert duplicate.status_code == 409

    assert not list((settings.data_dir / WRITERS_DIR).glob("*/*.intent"))
