"""The distributed run: API, real Postgres, real Redis and Celery worker processes, watched over SSE and WebSocket."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis
from websockets.sync.client import connect

import migrations
from tests.audio_factory import encode, tone
from tests.conftest import wait_for_job
from tests.faults import assert_aftermath
from tests.processes import Server, Worker, clean_env
from tests.sse import SSEEvent, collect

pytestmark = pytest.mark.integration

FINISHED = {"succeeded", "failed", "cancelled"}
# Each stack of this run gets a different Redis database number (1-15; 0 is left to people).
REDIS_DATABASES = iter(random.sample(range(1, 16), 15))
# No background speech bank: these tests are about the queue and the workers, and each worker would make its own.
QUICK = {
    "preset": "tiny",
    "config_overrides": {"epochs": 2, "steps_per_epoch": 3, "batch_size": 8, "background_speech_s": 0},
}
# Patience 0: early stopping must not end a job the test means to interrupt.
LONG = {
    "preset": "tiny",
    "config_overrides": {
        "epochs": 300,
        "steps_per_epoch": 20,
        "batch_size": 8,
        "background_speech_s": 0,
        "patience": 0,
    },
}


@dataclass
class Stack:
    """One deployment: its API URL, its workers, its data volume."""

    url: str
    workers: list[Worker]
    volume: Path
    http: httpx.Client


def start_stack(tmp: Path, make_database: Any, redis_base: str, workers: int) -> tuple[Server, Stack]:
    database_url = make_database()
    migrations.upgrade(database_url)
    broker = f"{redis_base}/{next(REDIS_DATABASES)}"
    # A Redis database of its own, emptied: no other stack's worker takes this stack's jobs, and no message
    # left by an earlier run is delivered to this one.
    client = redis.Redis.from_url(broker)
    client.flushdb()
    client.close()
    env = clean_env(
        WAKE_TRAINING_DATA_DIR=str(tmp / "volume"),
        WAKE_TRAINING_DATABASE_URL=database_url,
        WAKE_TRAINING_BROKER_URL=broker,
        WAKE_TRAINING_REAPER_INTERVAL_S="0.5",
        WAKE_TRAINING_HEARTBEAT_TIMEOUT_S="3",
        WAKE_TRAINING_WORKER_THREADS="1",
    )
    server = Server(env, tmp / "api.log")
    started = [Worker(env, tmp / f"worker-{i}.log", f"w{i}@test") for i in range(workers)]
    return server, Stack(server.url, started, tmp / "volume", httpx.Client(base_url=server.url, timeout=30))


def stop_stack(server: Server, stack: Stack) -> None:
    stack.http.close()
    for worker in stack.workers:
        worker.stop()
    server.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, make_postgres_database: Any, redis_server: str) -> Iterator[Stack]:
    server, started = start_stack(tmp_path_factory.mktemp("stack"), make_postgres_database, redis_server, workers=2)
    yield started
    stop_stack(server, started)


def make_dataset(http: httpx.Client, name: str) -> None:
    """A dataset the trainer can learn: a tone burst for positives, noise and other tones for negatives."""
    assert http.post("/datasets", json={"name": name}).status_code == 201
    rng = np.random.default_rng(0)
    positives = [encode(tone(1.0, freq=880.0, seed=i), 16_000) for i in range(10)]
    negatives = [encode((0.1 * rng.standard_normal((16_000, 1))).astype(np.float32), 16_000) for _ in range(6)]
    negatives += [encode(tone(1.0, freq=300.0 + 40 * i, seed=100 + i), 16_000) for i in range(4)]
    for label, clips in (("positive", positives), ("negative", negatives)):
        files = [("files", (f"{label}-{i}.wav", blob)) for i, blob in enumerate(clips)]
        assert http.post(f"/datasets/{name}/recordings", files=files, data={"label": label}).status_code == 201


def submit(http: httpx.Client, dataset: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/train", json={"dataset": dataset, **body})
    assert response.status_code == 202, response.text
    return response.json()


def assert_export_matches_manifest(volume: Path, job: dict[str, Any]) -> None:
    export = volume / "jobs" / job["id"] / "export"
    assert sorted(p.name for p in export.parent.iterdir()) == ["export"], "no partial export is left"
    manifest = json.loads((export / "manifest.json").read_text())
    for entry in manifest["files"]:
        assert hashlib.sha256((export / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    listed = {a["name"]: a for a in job["artifacts"]}
    assert set(listed) == {e["name"] for e in manifest["files"]} | {"manifest.json"}
    for name, artifact in listed.items():
        assert (export / name).stat().st_size == artifact["size"]


class WebSocketReader(threading.Thread):
    """Collects WebSocket events in the background until told to stop."""

    def __init__(self, url: str, until: Any) -> None:
        super().__init__(daemon=True)
        self.url, self.until = url, until
        self.events: list[dict[str, Any]] = []
        self.connected = threading.Event()

    def run(self) -> None:
        with connect(self.url, open_timeout=10) as socket:
            self.connected.set()
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not self.until(self.events):
                message = json.loads(socket.recv(timeout=30))
                if message.get("type") != "heartbeat":
                    self.events.append(message)


def test_two_workers_take_jobs_from_one_queue_and_clients_watch_them_live(stack: Stack) -> None:
    make_dataset(stack.http, "shared-queue")
    count = 4

    def all_done(events: list) -> bool:
        return sum(1 for e in events if (e.type if isinstance(e, SSEEvent) else e["type"]) == "job.succeeded") >= count

    ws = WebSocketReader(stack.url.replace("http", "ws") + "/ws/events?dataset=shared-queue", all_done)
    ws.start()
    assert ws.connected.wait(10)
    sse: list[SSEEvent] = []
    sse_reader = threading.Thread(
        target=lambda: sse.extend(collect(stack.http, "/events?dataset=shared-queue", until=all_done, timeout=180))
    )
    sse_reader.start()
    time.sleep(0.5)

    jobs = [submit(stack.http, "shared-queue", QUICK) for _ in range(count)]
    finished = [wait_for_job(stack.http, job["id"], FINISHED, timeout=180) for job in jobs]
    sse_reader.join(60)
    ws.join(60)

    assert [job["status"] for job in finished] == ["succeeded"] * count, finished
    assert {job["worker_hostname"] for job in finished} == {"w0@test", "w1@test"}
    for job in finished:
        assert_export_matches_manifest(stack.volume, job)
        download = stack.http.get(f"/jobs/{job['id']}/artifacts/model.onnx")
        assert hashlib.sha256(download.content).hexdigest() == next(
            a["sha256"] for a in job["artifacts"] if a["name"] == "model.onnx"
        )
    sse_seqs = [e.id for e in sse]
    ws_seqs = [e["seq"] for e in ws.events]
    assert sse_seqs == sorted(set(sse_seqs)), "SSE sequence numbers strictly increase"
    assert ws_seqs == sse_seqs, "the WebSocket carries the same events in the same order"
    for job in jobs:
        types = [e.type for e in sse if e.data["job_id"] == job["id"]]
        assert types[0] == "job.queued" and types[-1] == "job.succeeded", types
        assert "job.started" in types and "job.progress" in types
        progress = [e.data["payload"] for e in sse if e.data["job_id"] == job["id"] and e.type == "job.progress"]
        assert [p["epoch"] for p in progress] == [1, 2]
        assert all(np.isfinite(p["loss"]) for p in progress)


def test_cancel_a_queued_and_a_running_job_then_the_worker_takes_the_next(stack: Stack) -> None:
    make_dataset(stack.http, "cancelling")
    long_jobs = [submit(stack.http, "cancelling", LONG) for _ in range(2)]
    for job in long_jobs:
        wait_for_job(stack.http, job["id"], {"running"}, timeout=60)
    waiting = submit(stack.http, "cancelling", QUICK)

    cancelled = stack.http.post(f"/jobs/{waiting['id']}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "cancelled"

    running = long_jobs[0]
    wait_for_progress(stack.http, running["id"])
    asked = time.monotonic()
    assert stack.http.post(f"/jobs/{running['id']}/cancel").status_code == 202
    stopped = wait_for_job(stack.http, running["id"], FINISHED, timeout=30)
    assert stopped["status"] == "cancelled"
    assert time.monotonic() - asked < 5
    assert stopped["progress"]["step"] < stopped["progress"]["total_steps"]

    after = wait_for_job(stack.http, submit(stack.http, "cancelling", QUICK)["id"], FINISHED, timeout=120)
    assert after["status"] == "succeeded"
    waiting_events = collect(stack.http, f"/jobs/{waiting['id']}/events", until=lambda _: False, timeout=10)
    assert [e.type for e in waiting_events] == ["job.queued", "job.cancelled"], "a cancelled queued job never starts"
    assert stack.http.post(f"/jobs/{waiting['id']}/cancel").status_code == 409

    stack.http.post(f"/jobs/{long_jobs[1]['id']}/cancel")
    assert wait_for_job(stack.http, long_jobs[1]["id"], FINISHED, timeout=30)["status"] == "cancelled"


def wait_for_progress(http: httpx.Client, job_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http.get(f"/jobs/{job_id}").json()["progress"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} reported no progress within {timeout} s")


def test_an_sse_client_that_reconnects_with_last_event_id_gets_exactly_what_it_missed(stack: Stack) -> None:
    make_dataset(stack.http, "resuming")
    job = submit(
        stack.http,
        "resuming",
        {"preset": "tiny", "config_overrides": {"epochs": 4, "steps_per_epoch": 3, "background_speech_s": 0}},
    )
    url = f"/jobs/{job['id']}/events"

    first = collect(stack.http, url, until=lambda events: len(events) >= 3, timeout=60)
    rest = collect(stack.http, url, until=lambda _: False, headers={"Last-Event-ID": str(first[-1].id)}, timeout=120)
    wait_for_job(stack.http, job["id"], FINISHED)
    whole = collect(stack.http, url, until=lambda _: False, timeout=30)

    assert len(first) == 3
    assert [e.id for e in first + rest] == [e.id for e in whole]
    assert whole[-1].type == "job.succeeded"


@pytest.mark.faults
def test_a_worker_killed_mid_job_hands_the_job_to_the_other_worker(
    tmp_path: Path, make_postgres_database: Any, redis_server: str
) -> None:
    server, own = start_stack(tmp_path, make_postgres_database, redis_server, workers=2)
    try:
        make_dataset(own.http, "killing")
        overrides = {"epochs": 8, "steps_per_epoch": 10, "batch_size": 8, "background_speech_s": 0}
        body = {"preset": "tiny", "config_overrides": overrides}
        job = submit(own.http, "killing", body)
        running = wait_for_job(own.http, job["id"], {"running"}, timeout=60)
        wait_for_progress(own.http, job["id"])
        victim = next(w for w in own.workers if w.name == running["worker_hostname"])
        victim.kill()

        finished = wait_for_job(own.http, job["id"], FINISHED, timeout=120)

        assert finished["status"] == "succeeded", finished
        assert finished["worker_hostname"] != victim.name
        assert finished["attempts"] == 2
        assert "lost" in (finished["error"] or "")
        events = collect(own.http, f"/jobs/{job['id']}/events", until=lambda _: False, timeout=10)
        assert [e.type for e in events].count("job.retried") == 1
        assert own.http.get("/jobs", params={"status": "running"}).json()["total"] == 0
        assert_export_matches_manifest(own.volume, finished)
        assert_aftermath(own.http, own.volume)
    finally:
        stop_stack(server, own)


def test_a_worker_evaluates_a_trained_model_on_another_dataset(stack: Stack) -> None:
    make_dataset(stack.http, "evaluated")
    make_dataset(stack.http, "evaluated-test")
    model = wait_for_job(stack.http, submit(stack.http, "evaluated", QUICK)["id"], FINISHED, timeout=180)
    assert model["status"] == "succeeded", model

    queued = stack.http.post(f"/jobs/{model['id']}/evaluate", json={"dataset": "evaluated-test"})
    assert queued.status_code == 202, queued.text
    evaluation = wait_for_job(stack.http, queued.json()["id"], FINISHED, timeout=120)

    assert evaluation["status"] == "succeeded", evaluation
    assert evaluation["worker_hostname"] in {"w0@test", "w1@test"}
    figures = evaluation["metrics"]
    assert figures["model_job"] == model["id"] and figures["threshold"] == model["metrics"]["threshold"]
    assert figures["positives"] == 10 and figures["negative_s"] == pytest.approx(10.0)
    assert_export_matches_manifest(stack.volume, evaluation)
    assert [e["id"] for e in stack.http.get(f"/jobs/{model['id']}/evaluations").json()["items"]] == [evaluation["id"]]
