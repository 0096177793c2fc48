"""The edge runtime against the real API (`wake-training serve`): a device follows, detects, reports, gets promoted."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from shared.settings import Settings
from tests.job_factory import model_bytes, trained_job
from tests.processes import Server, clean_env
from tests.test_detect import BURST_AT_S, quiet_noise, with_burst, write_wav
from wake_edge.api_client import ApiClient, ServerError
from wake_edge.bundle import BundleStore
from wake_edge.follower import Follower
from wake_edge.runner import RunOptions, run_device
from wake_edge.sources import wav_blocks

pytestmark = pytest.mark.unit

RATE = 16_000


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, Settings]]:
    volume = tmp_path / "volume"
    server = Server(clean_env(WAKE_TRAINING_DATA_DIR=str(volume)), tmp_path / "serve.log")
    settings = Settings(data_dir=volume)
    yield server, Settings(data_dir=volume, database_url=settings.resolved_database_url)
    server.stop()


def test_a_device_follows_detects_and_reports_then_runs_the_promoted_model(
    served: tuple[Server, Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, settings = served
    admin = httpx.Client(base_url=server.url, timeout=10)
    dataset = admin.post("/datasets", json={"name": "kitchen", "wake_phrase": "hey kitchen"}).json()
    first = trained_job(settings, dataset=dataset, threshold=0.5)
    assert admin.post("/deployments", json={"name": "kitchen-speaker", "job_id": first}).status_code == 201
    device = admin.post("/devices", json={"name": "kitchen-pi", "deployment": "kitchen-speaker", "report_audio": True})
    token = device.json()["token"]
    audio = with_burst(quiet_noise(10))
    start = round(7 * RATE)
    audio[start : start + RATE // 2] += 0.27 * np.sin(2 * np.pi * 1_000 * np.arange(RATE // 2) / RATE)
    wav = write_wav(tmp_path / "wake.wav", audio)
    options = RunOptions(server.url, "kitchen-speaker", token, tmp_path / "state", poll_s=0.2)
    lines: list[str] = []

    assert run_device(options, lambda: wav_blocks(wav), echo=lines.append) == 0

    assert len(lines) == 1 and abs(float(lines[0].split("s")[0]) - BURST_AT_S) <= 0.5
    assert lines[0].endswith("kitchen-speaker v1")
    store = BundleStore(tmp_path / "state", "kitchen-speaker")
    follower = Follower(ApiClient(server.url, token), store, "kitchen-speaker", current=store.current())
    assert follower.poll_once() is None  # the same bundle: nothing to install, and the poll says what runs
    record = admin.get(f"/devices/{device.json()['id']}").json()
    first_sha = hashlib.sha256(model_bytes(settings, first)).hexdigest()
    assert (record["running_version"], record["running_sha256"]) == (1, first_sha)
    assert (record["detections"], record["near_misses"]) == (1, 1)
    clips = admin.get("/datasets/kitchen/recordings", params={"review": "unreviewed"}).json()["items"]
    assert sorted((clip["label"], clip["source"]) for clip in clips) == [("negative", "device"), ("positive", "device")]

    second = trained_job(settings, dataset=dataset, threshold=0.6)
    assert admin.put("/deployments/kitchen-speaker", json={"job_id": second}).status_code == 200
    promoted = follower.poll_once()

    assert promoted is not None and promoted.manifest.version == 2 and promoted.manifest.threshold == 0.6
    assert promoted.manifest.model.sha256 == hashlib.sha256(model_bytes(settings, second)).hexdigest()

    admin.delete(f"/devices/{device.json()['id']}")
    with caplog.at_level(logging.WARNING, logger="wake_edge"):
        follower.step()
    assert "401" in caplog.text and "revoked" in caplog.text
    assert follower.current is promoted
    other = admin.post("/devices", json={"name": "hall-pi", "deployment": "kitchen-speaker"}).json()["token"]
    with pytest.raises(ServerError, match="403"):
        ApiClient(server.url, other).fetch_manifest("another-deployment")
