"""Soak: many uploaders at once while a training job runs and the broker (Redis) restarts; nothing lost or doubled.

Starts its own Redis (no persistence, the careless deployment), a fresh Postgres database, `wake-training serve`
and one `wake-training worker` on a shared data dir. Seeds a dataset, starts a training job, then runs
`--uploaders` clients that each upload `--clips` distinct clips one request at a time, and kills and restarts
Redis `--restart-after` seconds in. Then checks, against the database and the volume: every clip answered 201 is
stored exactly once with its file, no audio is stored twice, the job ended succeeded and started once per attempt.
Prints the upload latencies (p50, p99, max) and the checks; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import harness
import httpx
import numpy as np
import psycopg
import soundfile as sf

SAMPLE_RATE = 16_000
DATASET = "soak"
JOB_TIMEOUT_S = 900.0
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def clip(seed: int, seconds: float = 1.0) -> bytes:
    """A distinct one-second WAV: a tone whose frequency and noise depend on the seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = 0.3 * np.sin(2 * np.pi * (200 + seed % 3000) * t) + 0.02 * rng.standard_normal(t.size)
    out = io.BytesIO()
    sf.write(out, audio.astype(np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return out.getvalue()


class Redis:
    """A redis-server of the bench's own, restartable on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, harness.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen([*command, "--save", "", "--appendonly", "no"], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@contextlib.contextmanager
def worker(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    cli = Path(sys.executable).parent / "wake-training"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [cli, "worker", "--concurrency", "1", "--hostname", "soak@%h"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 120
        while " ready." not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{harness.log_tail(log_path)}")
            time.sleep(0.2)
        yield process
    finally:
        harness.stop(process)


@dataclass
class Uploads:
    """What the uploaders sent and what they were answered."""

    latencies_ms: list[float] = field(default_factory=list)
    stored: dict[str, str] = field(default_factory=dict)  # sha256 of the sent bytes' audio -> clip id
    refused: list[str] = field(default_factory=list)


async def upload_all(base_url: str, uploaders: int, clips: int, restart: tuple[float, Redis]) -> Uploads:
    result = Uploads()

    async def one(client: httpx.AsyncClient, uploader: int) -> None:
        for i in range(clips):
            data = clip(10_000 + uploader * clips + i)
            started = time.perf_counter()
            try:
                response = await client.post(
                    f"/datasets/{DATASET}/recordings",
                    files=[("files", (f"u{uploader}-{i}.wav", data, "audio/wav"))],
                    data={"label": "negative", "speaker": f"uploader-{uploader}"},
                )
            except httpx.HTTPError as exc:
                result.refused.append(f"uploader {uploader} clip {i}: {type(exc).__name__}: {exc}")
                continue
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code == 201:
                [stored] = response.json()["clips"]
                result.stored[stored["sha256"]] = stored["id"]
            else:
                result.refused.append(f"uploader {uploader} clip {i}: {response.status_code} {response.text[:200]}")

    async def restart_broker() -> None:
        after_s, redis = restart
        await asyncio.sleep(after_s)
        redis.kill()
        await asyncio.sleep(1.0)
        redis.start()
        print(f"redis killed at {after_s:.0f} s and started again 1 s later")

    async with httpx.AsyncClient(base_url=base_url, timeout=120, headers=harness.auth_headers()) as client:
        await asyncio.gather(restart_broker(), *(one(client, u) for u in range(uploaders)))
    return result


def seed_and_train(base_url: str) -> str:
    with httpx.Client(base_url=base_url, timeout=60, headers=harness.auth_headers()) as client:
        client.post("/datasets", json={"name": DATASET}).raise_for_status()
        for label, offset in (("positive", 0), ("negative", 100)):
            files = [("files", (f"{label}-{i}.wav", clip(offset + i), "audio/wav")) for i in range(12)]
            client.post(f"/datasets/{DATASET}/recordings", files=files, data={"label": label}).raise_for_status()
        overrides = {"epochs": 20, "steps_per_epoch": 40, "background_speech_s": 0}
        job = client.post("/train", json={"dataset": DATASET, "preset": "tiny", "config_overrides": overrides})
        job.raise_for_status()
        return job.json()["id"]


def wait_job(base_url: str, job_id: str) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    with httpx.Client(base_url=base_url, timeout=30, headers=harness.auth_headers()) as client:
        while time.monotonic() < deadline:
            job = client.get(f"/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(1)
    raise RuntimeError(f"job {job_id} did not finish within {JOB_TIMEOUT_S:.0f} s")


def check(database_url: str, data_dir: Path, uploads: Uploads, job_id: str, job: dict) -> list[tuple[str, bool]]:
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT c.id, c.sha256 FROM clips c JOIN datasets d ON d.id = c.dataset_id WHERE d.name = %s", (DATASET,)
        ).fetchall()
        started = conn.execute(
            "SELECT count(*) FROM events WHERE type = 'job.started' AND job_id = %s", (job_id,)
        ).fetchone()[0]
    by_sha = {}
    for clip_id, sha in rows:
        by_sha.setdefault(sha, []).append(str(clip_id))
    files = {p.stem for p in (data_dir / "datasets" / DATASET / "clips").glob("*.wav")}
    lost = [sha for sha, clip_id in uploads.stored.items() if by_sha.get(sha) != [clip_id] or clip_id not in files]
    return [
        (f"{len(uploads.stored)} clips answered 201, {len(lost)} of them lost", not lost),
        (f"{sum(len(v) - 1 for v in by_sha.values())} audio stored twice", all(len(v) == 1 for v in by_sha.values())),
        (f"{len(rows)} rows, {len(files)} files", {str(c) for c, _ in rows} == files),
        (f"training job {job['status']}, attempts {job['attempts']}, started {started} time(s)",
         job["status"] == "succeeded" and started == job["attempts"]),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploaders", type=harness.positive_int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--clips", type=harness.positive_int, default=50, help="clips per client (default 50)")
    parser.add_argument(
        "--restart-after", type=float, default=5.0, help="seconds into the uploads to kill and restart Redis"
    )
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="wake-soak-"))
    data_dir = folder / "volume"
    redis = Redis(folder)
    ok = False
    try:
        with harness.postgres_database() as database_url:
            env = dict(os.environ, WAKE_TRAINING_DATA_DIR=str(data_dir), WAKE_TRAINING_DATABASE_URL=database_url)
            env["WAKE_TRAINING_BROKER_URL"] = redis.url
            with (
                harness.wake_training_server(
                    folder / "serve.log",
                    data_dir_prefix="wake-soak-",
                    database_url=database_url,
                    broker_url=redis.url,
                    data_dir=data_dir,
                ) as base_url,
                worker(env, folder / "worker.log"),
            ):
                job_id = seed_and_train(base_url)
                started = time.monotonic()
                uploads = asyncio.run(upload_all(base_url, args.uploaders, args.clips, (args.restart_after, redis)))
                wall_s = time.monotonic() - started
                job = wait_job(base_url, job_id)
                checks = check(database_url, data_dir, uploads, job_id, job)
        total = args.uploaders * args.clips
        lat = uploads.latencies_ms
        print(
            f"{args.uploaders} uploaders x {args.clips} clips = {total} uploads in {wall_s:.1f} s: "
            f"p50 {harness.percentile(lat, 50):.0f} ms, p99 {harness.percentile(lat, 99):.0f} ms, "
            f"max {max(lat, default=0):.0f} ms; {len(uploads.refused)} refused"
        )
        for line in uploads.refused[:5]:
            print(f"  refused: {line}")
        for text, passed in checks:
            print(f"  {'ok  ' if passed else 'FAIL'} {text}")
        ok = all(passed for _, passed in checks)
        return 0 if ok else 1
    finally:
        redis.kill()
        if ok:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"logs kept in {folder}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
