"""Live streams do not stall: events stored while Redis pub/sub is down still reach open streams within seconds."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import select

from shared.db.models import Event, Job
from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.events import RedisPublisher, event_channel
from tests.conftest import service_missing
from tests.faults import assert_aftermath
from tests.processes import Server, clean_env, free_port
from tests.sse import SSEEvent, frames
from worker.jobs import JobStore

pytestmark = [pytest.mark.integration, pytest.mark.faults]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
POLL_S = 1.0


class OwnRedis:
    """A redis-server of the test's own on a free port, to stop and start again (the shared one is never touched)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Kill the server, as an outage would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A running redis-server that the test may take down; fails under CI when redis-server is missing."""
    server = OwnRedis(tmp_path)
    try:
        server.start()
    except (OSError, redis.RedisError) as exc:
        service_missing(f"redis-server ({REDIS_SERVER})", exc)
    yield server
    server.stop()


class StreamReader(threading.Thread):
    """Reads an SSE stream in the background, noting when each event arrived."""

    def __init__(self, url: str, until: Callable[[list[SSEEvent]], bool]) -> None:
        super().__init__(daemon=True)
        self.url, self.until = url, until
        self.events: list[SSEEvent] = []
        self.arrived: dict[int, float] = {}
        self.opened = threading.Event()

    def run(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(60, read=60)) as http,
            http.stream("GET", self.url) as response,
        ):
            self.opened.set()
            for frame in frames(response):
                if frame is None:
                    continue
                self.events.append(frame)
                self.arrived[frame.id] = time.monotonic()
                if self.until(self.events):
                    return

    def wait_for(self, predicate: Callable[[list[SSEEvent]], bool], timeout: float) -> bool:
        """Whether `predicate(events)` holds within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.events)):
                return True
            time.sleep(0.02)
        return False


class Worker:
    """What a worker process does to a job's row, publishing to the test's Redis: a stand-in that needs no training."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.engine = create_sync_db_engine(database_url)
        self.sessions = sync_session_factory(self.engine)
        self.publisher = RedisPublisher(redis_url, event_channel(database_url))
        self.store = JobStore(self.sessions, self.publisher.publish)

    def running_job(self) -> uuid.UUID:
        """A job that this worker claimed (`job.started`, published)."""
        with self.sessions() as session:
            job = Job(dataset_name="kitchen", config={}, clips=[], snapshot_sha256="0" * 64, attempts=1)
            session.add(job)
            session.commit()
            job_id = job.id
        assert self.store.claim(job_id, 1, "stand-in@test") is not None
        return job_id

    def stored_seqs(self, job_id: uuid.UUID | None = None) -> list[int]:
        """The sequence numbers in the database (of one job, or all), in order."""
        query = select(Event.seq).order_by(Event.seq)
        if job_id is not None:
            query = query.where(Event.job_id == job_id)
        with self.sessions() as session:
            return list(session.scalars(query))

    def close(self) -> None:
        self.publisher.close()
        self.engine.dispose()


def start_api(tmp_path: Path, database_url: str, redis_url: str, poll_s: float) -> Server:
    env = clean_env(
        WAKE_TRAINING_DATA_DIR=str(tmp_path / "volume"),
        WAKE_TRAINING_DATABASE_URL=database_url,
        WAKE_TRAINING_BROKER_URL=redis_url,
        WAKE_TRAINING_EVENT_POLL_S=str(poll_s),
    )
    return Server(env, tmp_path / "api.log")


def finished(events: list[SSEEvent]) -> bool:
    return any(e.type == "job.succeeded" for e in events)


def test_a_job_that_ends_while_redis_is_down_ends_its_open_stream_within_seconds(
    tmp_path: Path, database_url: str, own_redis: OwnRedis
) -> None:
    server = start_api(tmp_path, database_url, own_redis.url, POLL_S)
    worker = Worker(database_url, own_redis.url)
    try:
        job_id = worker.running_job()
        stream = StreamReader(f"{server.url}/jobs/{job_id}/events", until=finished)
        stream.start()
        assert stream.wait_for(lambda events: [e.type for e in events] == ["job.started"], 10)

        own_redis.stop()
        for epoch in (1, 2):
            worker.store.progress(job_id, 1, {"epoch": epoch, "epochs": 2})
        worker.store.log(job_id, 1, "exporting")
        worker.store.succeed(job_id, 1, {"frr": 0.0}, [])
        committed = time.monotonic()
        stream.join(POLL_S + 4)

        assert finished(stream.events), f"no job.succeeded within {POLL_S + 4:g} s: {stream.events}"
        assert stream.arrived[stream.events[-1].id] - committed < POLL_S + 2
        assert [e.id for e in stream.events] == worker.stored_seqs(job_id), "every event once, in order"
        assert [e.type for e in stream.events] == [
            "job.started",
            "job.progress",
            "job.progress",
            "job.log",
            "job.succeeded",
        ]
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert_aftermath(http, tmp_path / "volume")
    finally:
        own_redis.stop()
        worker.close()
        server.stop()


def test_when_redis_comes_back_streams_get_what_was_stored_meanwhile_then_live_events(
    tmp_path: Path, database_url: str, own_redis: OwnRedis
) -> None:
    # A poll too slow to matter here: what was stored during the outage comes with the reconnection.
    server = start_api(tmp_path, database_url, own_redis.url, poll_s=600)
    worker = Worker(database_url, own_redis.url)
    try:
        stream = StreamReader(f"{server.url}/events", until=finished)
        stream.start()
        assert stream.opened.wait(10)
        job_id = worker.running_job()
        assert stream.wait_for(lambda events: len(events) == 1, 10), "live events flow before the outage"

        own_redis.stop()
        for epoch in (1, 2, 3):
            worker.store.progress(job_id, 1, {"epoch": epoch, "epochs": 3})
        time.sleep(1.0)
        assert len(stream.events) == 1, "nothing reaches the stream while Redis is down and the poll is far off"
        own_redis.start()
        back = time.monotonic()

        assert stream.wait_for(lambda events: len(events) == 4, 8), f"missed events after reconnect: {stream.events}"
        assert stream.arrived[stream.events[-1].id] - back < 5
        worker.store.succeed(job_id, 1, {"frr": 0.0}, [])
        stream.join(5)

        assert finished(stream.events), "a live event after the outage reaches the stream"
        assert [e.id for e in stream.events] == worker.stored_seqs(), "every event once, in order"
        assert [e.type for e in stream.events] == ["job.started", *["job.progress"] * 3, "job.succeeded"]
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert_aftermath(http, tmp_path / "volume")
    finally:
        own_redis.stop()
        worker.close()
        server.stop()
