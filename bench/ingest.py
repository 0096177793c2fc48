"""Upload benchmark: clips per second and request latency of `POST /datasets/{name}/recordings`."""

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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psycopg
import soundfile as sf

SAMPLE_RATE = 16_000
LABELS = ("positive", "negative", "noise")
BACKENDS = ("sqlite", "postgres")
POSTGRES_ADMIN_DSN = os.environ.get("WAKE_TRAINING_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 120.0
LOG_TAIL_LINES = 30


@dataclass
class Run:
    """The figures of one (backend, concurrency) run."""

    backend: str
    concurrency: int
    clips: int
    wall_s: float
    latencies_ms: list[float]
    errors: int
    first_error: str | None

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.latencies_ms, 50)) if self.latencies_ms else float("nan")

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self.latencies_ms, 99)) if self.latencies_ms else float("nan")

    def line(self) -> str:
        return (
            f"{self.backend:<8} clips={self.clips} concurrency={self.concurrency} wall={self.wall_s:.2f}s "
            f"clips/s={self.clips_per_s:.1f} p50={self.p50_ms:.1f}ms p99={self.p99_ms:.1f}ms errors={self.errors}"
        )

    def row(self) -> str:
        return (
            f"| {self.backend} | {self.clips} | {self.concurrency} | {self.wall_s:.2f} | {self.clips_per_s:.1f} "
            f"| {self.p50_ms:.1f} | {self.p99_ms:.1f} | {self.errors} |"
        )


def make_clips(count: int) -> list[bytes]:
    """`count` distinct one-second 16 kHz mono PCM16 WAV files, in memory."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    clips = []
    for index in range(count):
        rng = np.random.default_rng(index)
        freq = 200.0 + (index * 7) % 3000
        signal = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
        out = io.BytesIO()
        sf.write(out, signal.astype(np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
        clips.append(out.getvalue())
    return clips


def auth_headers() -> dict[str, str]:
    """The bearer token the server will demand if WAKE_TRAINING_API_TOKEN is set."""
    token = os.environ.get("WAKE_TRAINING_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


async def create_dataset(client: httpx.AsyncClient, prefix: str) -> str:
    """A new, empty dataset; duplicates are refused per dataset, so every run gets its own."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    response = await client.post("/datasets", json={"name": name})
    if response.status_code != 201:
        raise RuntimeError(f"POST /datasets answered {response.status_code}: {response.text}")
    return name


async def upload_all(base_url: str, backend: str, clips: list[bytes], concurrency: int, files_per_request: int) -> Run:
    """Upload every clip, `files_per_request` per request, at most `concurrency` requests at once."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=auth_headers(), limits=limits, timeout=REQUEST_TIMEOUT_S
    ) as client:
        dataset = await create_dataset(client, f"bench-c{concurrency}")
        path = f"/datasets/{dataset}/recordings"
        batches = [clips[i : i + files_per_request] for i in range(0, len(clips), files_per_request)]
        semaphore = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        stored = 0
        errors = 0
        first_error: str | None = None

        async def send(index: int, batch: list[bytes]) -> None:
            nonlocal stored, errors, first_error
            files = [("files", (f"clip-{index}-{j}.wav", data, "audio/wav")) for j, data in enumerate(batch)]
            form = {"label": LABELS[index % len(LABELS)]}
            async with semaphore:
                started = time.perf_counter()
                try:
                    response = await client.post(path, files=files, data=form)
                except httpx.HTTPError as exc:
                    error: str | None = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code == 201:
                        stored += len(response.json()["clips"])
                        error = None
                    else:
                        error = f"HTTP {response.status_code}: {response.text}"
                latencies.append((time.perf_counter() - started) * 1000)
            if error is not None:
                errors += 1
                first_error = first_error or error

        started = time.perf_counter()
        await asyncio.gather(*(send(i, batch) for i, batch in enumerate(batches)))
        wall_s = time.perf_counter() - started
    return Run(backend, concurrency, stored, wall_s, latencies, errors, first_error)


def free_port() -> int:
    """A port nothing listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(log_path: Path) -> str:
    """The last lines of the server's log."""
    lines = log_path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Return once `GET /health` answers 200; raise if the server exits or never gets there."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was healthy:\n{log_tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {HEALTH_TIMEOUT_S:.0f}s:\n{log_tail(log_path)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server, killing it if it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty Postgres database, dropped afterwards."""
    name = f"wake_training_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        info = admin.info
        try:
            yield f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def local_server(backend: str, log_path: Path) -> Iterator[str]:
    """`wake-training serve` on a free port with a fresh data dir (and database), stopped afterwards."""
    cli = Path(sys.executable).parent / "wake-training"
    data_dir = Path(tempfile.mkdtemp(prefix=f"wake-training-bench-{backend}-"))
    env = dict(os.environ, WAKE_TRAINING_DATA_DIR=str(data_dir))
    # Ingest needs no broker; an inherited one would only make /health depend on Redis.
    env.pop("WAKE_TRAINING_BROKER_URL", None)
    env.pop("WAKE_TRAINING_DATABASE_URL", None)
    try:
        with contextlib.ExitStack() as stack, log_path.open("ab") as log:
            if backend == "postgres":
                env["WAKE_TRAINING_DATABASE_URL"] = stack.enter_context(postgres_database())
                migrated = subprocess.run([cli, "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT)
                if migrated.returncode != 0:
                    raise RuntimeError(f"wake-training migrate failed:\n{log_tail(log_path)}")
            port = free_port()
            process = subprocess.Popen(
                [cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            # Registered after the database so that the server is gone before the database is dropped.
            stack.callback(stop, process)
            base_url = f"http://127.0.0.1:{port}"
            wait_healthy(base_url, process, log_path)
            yield base_url
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def parse_concurrency(value: str) -> list[int]:
    """`8` or `1,8,32`: the concurrencies to run, in order."""
    try:
        levels = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of integers: {value!r}") from None
    if not levels or any(level < 1 for level in levels):
        raise argparse.ArgumentTypeError(f"concurrency must be one or more integers >= 1: {value!r}")
    return levels


def positive_int(value: str) -> int:
    """An integer of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {value}")
    return number


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both", help="database to bench on")
    parser.add_argument("--clips", type=positive_int, default=200, help="clips uploaded per run (default 200)")
    parser.add_argument(
        "--concurrency",
        type=parse_concurrency,
        default=[8],
        help="requests in flight at once; a comma list like 1,8 runs each in turn (default 8)",
    )
    parser.add_argument("--files-per-request", type=positive_int, default=1, help="files in each upload (default 1)")
    parser.add_argument("--url", help="bench this running server instead of starting one (--backend is ignored)")
    return parser.parse_args(argv)


def report(runs: list[Run]) -> None:
    print()
    print("| backend | clips | concurrency | wall s | clips/s | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in runs:
        print(run.row())


def bench_server(
    base_url: str, backend: str, clips: list[bytes], args: argparse.Namespace, log_path: Path | None
) -> list[Run]:
    """Every concurrency level against one server, printing each run's line as it finishes."""
    runs = []
    for concurrency in args.concurrency:
        run = asyncio.run(upload_all(base_url, backend, clips, concurrency, args.files_per_request))
        print(run.line(), flush=True)
        if run.first_error is not None:
            print(f"  first error: {run.first_error}", file=sys.stderr)
            if log_path is not None:
                print(f"  server log tail ({log_path}):\n{log_tail(log_path)}", file=sys.stderr)
        runs.append(run)
    return runs


def run_all(args: argparse.Namespace, clips: list[bytes]) -> list[Run]:
    """Every run the arguments ask for, against the given server or a fresh one per backend."""
    if args.url:
        base_url = args.url.rstrip("/")
        health = httpx.get(f"{base_url}/health", headers=auth_headers(), timeout=10)
        backend = health.json().get("database", "url") if health.status_code == 200 else "url"
        return bench_server(base_url, backend, clips, args, None)
    runs: list[Run] = []
    for backend in BACKENDS if args.backend == "both" else (args.backend,):
        fd, name = tempfile.mkstemp(prefix=f"wake-training-bench-{backend}-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
        keep_log = True
        try:
            with local_server(backend, log_path) as base_url:
                backend_runs = bench_server(base_url, backend, clips, args, log_path)
            runs += backend_runs
            keep_log = any(run.errors for run in backend_runs)
        finally:
            if keep_log:
                print(f"{backend} server log kept at {log_path}", file=sys.stderr)
            else:
                log_path.unlink(missing_ok=True)
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Generated before any timing starts, so that encoding WAVs is not part of the figures.
    clips = make_clips(args.clips)
    try:
        runs = run_all(args, clips)
    except (RuntimeError, httpx.HTTPError, psycopg.OperationalError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 2
    report(runs)
    return 1 if any(run.errors for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
