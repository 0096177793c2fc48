"""The embedded run: one `wake-training serve`, no database or broker configured, uploads to a downloadable model."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import onnxruntime
import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.jobs.reaper import reap_once
from shared.db.base import utcnow
from shared.db.models import Job
from tests.audio_factory import encode, tone
from tests.conftest import add_clips, create_dataset
from tests.processes import Server, clean_env
from tests.sse import collect


def test_upload_train_watch_and_download_in_one_process(tmp_path: Path) -> None:
    server = Server(clean_env(WAKE_TRAINING_DATA_DIR=str(tmp_path / "volume")), tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.get("/health").json()["mode"] == "embedded"
            assert http.post("/datasets", json={"name": "desk"}).status_code == 201
            for label, freq in (("positive", 900.0), ("negative", 250.0)):
                files = [
                    ("files", (f"{label}-{i}.wav", encode(tone(1.0, freq=freq, seed=i), 16_000))) for i in range(10)
                ]
                assert http.post("/datasets/desk/recordings", files=files, data={"label": label}).status_code == 201

            job = http.post(
                "/train",
                json={
                    "dataset": "desk",
                    "preset": "tiny",
                    "config_overrides": {"epochs": 2, "steps_per_epoch": 4, "background_speech_s": 0},
                },
            ).json()
            events = collect(http, job["events_url"], until=lambda _: False, timeout=120)
            finished = http.get(f"/jobs/{job['id']}").json()
            model = http.get(f"/jobs/{job['id']}/artifacts/model.onnx")
            logs = http.get(job["logs_url"]).json()
    finally:
        server.stop()

    types = [e.type for e in events]
    assert types[0] == "job.queued" and types[-1] == "job.succeeded"
    assert [e.data["payload"]["epoch"] for e in events if e.type == "job.progress"] == [1, 2]
    assert [e.id for e in events] == sorted({e.id for e in events})
    assert finished["status"] == "succeeded"
    assert finished["worker_hostname"].startswith("embedded@")
    assert {a["name"] for a in finished["artifacts"]} >= {"model.pt", "model.onnx", "manifest.json", "config.json"}
    assert logs["items"] and all(entry["message"] for entry in logs["items"])
    # Saved under a name that says which dataset and job it came from (`curl -OJ`, a browser).
    assert model.headers["content-disposition"] == f'attachment; filename="desk-{job["id"][:8]}-model.onnx"'
    session = onnxruntime.InferenceSession(model.content, providers=["CPUExecutionProvider"])
    [window] = session.get_inputs()[0].shape[1:]  # the default streaming network's 1.5 s
    audio = tone(window / 16_000, freq=900.0, seed=99)[:, 0][None, :window].astype(np.float32)
    [probability] = session.run(None, {session.get_inputs()[0].name: audio})
    assert probability.shape == (1,) and 0.0 <= float(probability[0]) <= 1.0
    manifest = json.loads((tmp_path / "volume" / "jobs" / job["id"] / "export" / "manifest.json").read_text())
    assert manifest["snapshot_sha256"] == finished["snapshot_sha256"]


def test_a_dataset_change_is_an_event_too(client: TestClient) -> None:
    create_dataset(client, "kitchen")
    [clip] = add_clips(client, "kitchen", 1)
    client.patch(f"/datasets/kitchen/recordings/{clip['id']}", json={"label": "noise"})
    client.delete(f"/datasets/kitchen/recordings/{clip['id']}")
    client.post(f"/datasets/kitchen/recordings/{clip['id']}/restore")

    with client.websocket_connect("/ws/events?dataset=kitchen&after=0") as socket:
        types = [socket.receive_json()["type"] for _ in range(5)]

    assert types == [
        "dataset.created",
        "dataset.clip_added",
        "dataset.clip_updated",
        "dataset.clip_deleted",
        "dataset.clip_restored",
    ]


@pytest.fixture
def impatient_client(settings, request: pytest.FixtureRequest):
    # Heartbeats come every timeout/4 = 10 s: none lands between the test silencing the worker and reaping.
    patched = settings.model_copy(update={"max_attempts": 1, "heartbeat_timeout_s": 40.0, "reaper_interval_s": 3600})
    from api.app import create_app

    with TestClient(app=create_app(patched)) as client:
        yield client


def test_a_running_job_whose_worker_went_silent_fails_with_the_reason_after_its_last_attempt(
    impatient_client: TestClient,
) -> None:
    create_dataset(impatient_client, "kitchen")
    add_clips(impatient_client, "kitchen", 10)
    add_clips(impatient_client, "kitchen", 10, label="noise", seed=100)
    job_id = impatient_client.post(
        "/train", json={"dataset": "kitchen", "config_overrides": {"epochs": 250, "background_speech_s": 0}}
    ).json()["id"]
    state = impatient_client.app.state
    deadline = time.monotonic() + 60
    while impatient_client.get(f"/jobs/{job_id}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    async def silence_the_worker() -> None:
        async with state.session_factory() as session:
            job = await session.scalar(select(Job).where(Job.id == uuid.UUID(job_id)))
            job.heartbeat_at = utcnow().replace(year=2000)
            await session.commit()
        await reap_once(state)

    impatient_client.blocking_portal.call(silence_the_worker)

    job = impatient_client.get(f"/jobs/{job_id}").json()
    assert job["status"] == "failed"
    assert "lost" in job["error"] and "gave up after 1 attempts" in job["error"]
