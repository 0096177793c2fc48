"""Faults to inject in tests: a Redis of our own to restart, and a path to Postgres that can be cut."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.processes import free_port
from tests.sse import collect

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """A `redis-server` on a free port in a folder of its own, without persistence, as a careless deployment runs it.

    The shared Redis on 6379 is never restarted or flushed by tests; this one is theirs to break.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start (again) on the same port, empty."""
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        command += ["--save", "", "--appendonly", "no"]
        with open(self.folder / "redis.log", "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError), self.client() as client:
                if client.ping():
                    return
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not answer on {self.port}: {(self.folder / 'redis.log').read_text()}")

    def restart(self) -> None:
        """Kill and start again: with no persistence, every queued message is gone."""
        self.stop()
        self.start()

    def stop(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def client(self) -> redis.Redis:
        """A client of this server's database 0."""
        return redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)

    def queue_length(self, queue: str = "training") -> int:
        """How many messages wait in a Celery queue."""
        with self.client() as client:
            return int(client.llen(queue))


class CuttableProxy(threading.Thread):
    """A TCP proxy to `target`: `cut()` drops every connection and refuses new ones, as a database outage does."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(daemon=True, name="cuttable-proxy")
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()
        self.restore()
        self.start()

    def restore(self) -> None:
        """Accept connections again (on the same port)."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        with self._lock:
            self._listener = listener

    def cut(self) -> None:
        """Close the listening socket and every open connection: connecting fails at once until `restore()`."""
        with self._lock:
            listener, self._listener = self._listener, None
            open_sockets, self._sockets = self._sockets, set()
        if listener is not None:
            listener.close()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        """Cut for good and stop the thread."""
        self._stopped.set()
        self.cut()
        self.join(5)

    def run(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with self._lock:
            self._sockets -= {source, sink}
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


FINISHED = {"succeeded", "failed", "cancelled"}


def all_clips(http: httpx.Client, dataset: str) -> list[dict[str, Any]]:
    """Every clip of a dataset, trash included, page by page."""
    clips: list[dict[str, Any]] = []
    while True:
        page = http.get(
            f"/datasets/{dataset}/recordings", params={"deleted": "all", "limit": 500, "offset": len(clips)}
        ).json()
        clips += page["items"]
        if len(clips) >= page["total"]:
            return clips


def assert_aftermath(http: httpx.Client, volume: Path) -> None:
    """What every fault must end in: every job finished, no attempt started twice, each dataset's rows and files in
    agreement, and each job's event stream, resumed from its middle with Last-Event-ID, giving exactly the rest."""
    jobs = http.get("/jobs", params={"limit": 500}).json()["items"]
    for job in jobs:
        assert job["status"] in FINISHED, f"job {job['id']} left {job['status']}"
        events = collect(http, f"/jobs/{job['id']}/events", until=lambda _: False, timeout=15)
        types = [event.type for event in events]
        assert types.count("job.started") <= job["attempts"], (job["id"], types)
        assert sum(t in ("job.succeeded", "job.failed", "job.cancelled") for t in types) == 1, (job["id"], types)
        middle = len(events) // 2
        resumed = collect(
            http,
            f"/jobs/{job['id']}/events",
            until=lambda _: False,
            timeout=15,
            headers={"Last-Event-ID": str(events[middle].id)},
        )
        assert [e.id for e in resumed] == [e.id for e in events[middle + 1 :]], job["id"]
    for dataset in http.get("/datasets").json():
        rows = all_clips(http, dataset["name"])
        expected = {f"{'trash' if row['deleted'] else 'clips'}/{row['id']}.wav" for row in rows}
        folder = volume / "datasets" / dataset["name"]
        on_disk = {
            path.relative_to(folder).as_posix()
            for path in folder.glob("*/*.wav")
            if path.parent.name in ("clips", "trash")
        }
        assert on_disk == expected, dataset["name"]
