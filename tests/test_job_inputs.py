"""A job trains on the clips of its snapshot, whatever happens to them on the volume after it was submitted."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

import worker.training.trainer as trainer
from shared.db.models import Job
from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.reconcile import reconcile_configured_volume
from shared.settings import Settings
from shared.storage import Storage, pin_clip
from tests.audio_factory import wav_bytes
from tests.conftest import add_clips, create_dataset, wait_for_job
from tests.faults import assert_aftermath
from worker.jobs import JobStore

FAST = {
    "preset": "tiny",
    "config_overrides": {"epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "background_speech_s": 0},
}


def ready_dataset(client: TestClient) -> list[dict[str, Any]]:
    """A dataset with just enough clips to train; returns its positive clips."""
    create_dataset(client, "kitchen")
    positives = add_clips(client, "kitchen", 10)
    add_clips(client, "kitchen", 10, label="negative", seed=100)
    return positives


def delete_once(client: TestClient, clip_id: str, *, empty_trash: bool = False) -> Callable[[], None]:
    """A hook that soft-deletes a clip through the API the first time it runs (and can empty the trash after)."""
    done: list[bool] = []

    def hook() -> None:
        if done:
            return
        done.append(True)
        assert client.delete(f"/datasets/kitchen/recordings/{clip_id}").status_code == 200
        if empty_trash:
            trash = client.app.state.settings.data_dir / "datasets" / "kitchen" / "trash"
            (trash / f"{clip_id}.wav").unlink()

    return hook


def run_before_claim_returns(monkeypatch: pytest.MonkeyPatch, hook: Callable[[], None]) -> None:
    """Run `hook` on the worker once it has claimed the job, before it reads any clip."""
    claim = JobStore.claim

    def claim_then_hook(self: JobStore, *args: Any, **kwargs: Any) -> Job | None:
        job = claim(self, *args, **kwargs)
        hook()
        return job

    monkeypatch.setattr(JobStore, "claim", claim_then_hook)


def run_before_audio_is_read(monkeypatch: pytest.MonkeyPatch, hook: Callable[[], None]) -> None:
    """Run `hook` on the worker after its snapshot's files were found, before training opens the first one."""
    load_audio = trainer.load_audio

    def hook_then_load(path: Path):
        hook()
        return load_audio(path)

    monkeypatch.setattr(trainer, "load_audio", hook_then_load)


@pytest.mark.parametrize("when", ["as the job starts", "after the job found its files"])
@pytest.mark.faults
def test_a_clip_deleted_while_the_job_starts_is_still_trained_on_and_the_job_succeeds(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    victim = ready_dataset(client)[0]["id"]
    hook = delete_once(client, victim)
    if when == "as the job starts":
        run_before_claim_returns(monkeypatch, hook)
    else:
        run_before_audio_is_read(monkeypatch, hook)

    job = wait_for_job(client, client.post("/train", json={"dataset": "kitchen", **FAST}).json()["id"])

    assert job["status"] == "succeeded", job["error"]
    assert job["metrics"]["train_clips"] + job["metrics"]["val_clips"] == 20, "the deleted clip was trained on"
    assert client.get(f"/datasets/kitchen/recordings/{victim}").json()["deleted"] is True
    assert Storage(settings.data_dir).clip_path("kitchen", uuid.UUID(victim), deleted=True).is_file()
    job_dir = settings.data_dir / "jobs" / job["id"]
    assert sorted(p.name for p in job_dir.iterdir()) == ["export"], "the job's clip links are gone with the job"
    assert_aftermath(client, settings.data_dir)


def test_a_clip_whose_file_left_the_volume_fails_the_job_with_the_reason(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = ready_dataset(client)[0]["id"]
    run_before_claim_returns(monkeypatch, delete_once(client, victim, empty_trash=True))

    job = wait_for_job(client, client.post("/train", json={"dataset": "kitchen", **FAST}).json()["id"])

    assert job["status"] == "failed"
    assert victim in job["error"] and "neither clips/ nor trash/" in job["error"]
    assert "start a new job" in job["error"]
    assert not (settings.data_dir / "jobs" / job["id"]).exists() or not any(
        p.name.startswith("inputs-") for p in (settings.data_dir / "jobs" / job["id"]).iterdir()
    )


def test_a_pinned_clip_keeps_its_bytes_through_delete_restore_and_an_emptied_trash(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    clip_id = uuid.uuid4()
    clips = storage.clip_path("kitchen", clip_id)
    clips.parent.mkdir(parents=True)
    clips.write_bytes(wav_bytes(seed=1))
    trash = storage.clip_path("kitchen", clip_id, deleted=True)
    trash.parent.mkdir(parents=True)

    pin_clip(storage, "kitchen", clip_id, tmp_path / "job" / "a.wav")
    os.replace(clips, trash)
    pin_clip(storage, "kitchen", clip_id, tmp_path / "job" / "b.wav")
    trash.unlink()

    assert (tmp_path / "job" / "a.wav").read_bytes() == (tmp_path / "job" / "b.wav").read_bytes() == wav_bytes(seed=1)


def test_reconcile_removes_the_clip_links_of_job_attempts_that_no_longer_run(settings: Settings) -> None:
    engine = create_sync_db_engine(settings.resolved_database_url)
    with sync_session_factory(engine)() as session:
        # A worker killed mid-job leaves its job running at its attempt, with links on the volume.
        running, finished = (
            Job(dataset_name="kitchen", config={}, clips=[], snapshot_sha256="0" * 64, status=status, attempts=2)
            for status in ("running", "succeeded")
        )
        session.add_all([running, finished])
        session.commit()
        running_id, finished_id = str(running.id), str(finished.id)
    engine.dispose()
    storage = Storage(settings.data_dir)
    left = {
        (running_id, 1): False,  # an attempt before the one running now
        (running_id, 2): True,  # the attempt running now
        (finished_id, 2): False,
        (str(uuid.uuid4()), 1): False,  # a job whose row is gone
    }
    for job_id, attempt in left:
        folder = storage.job_inputs_dir(uuid.UUID(job_id), attempt)
        folder.mkdir(parents=True)
        (folder / "clip.wav").write_bytes(b"link")

    young = reconcile_configured_volume(settings, grace_s=600)
    time.sleep(0.01)
    report = reconcile_configured_volume(settings, grace_s=0)

    assert young.removed_job_inputs == 0, "folders younger than the grace period are left alone"
    assert report.removed_job_inputs == 3
    for (job_id, attempt), kept in left.items():
        assert storage.job_inputs_dir(uuid.UUID(job_id), attempt).exists() is kept
