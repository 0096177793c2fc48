"""Upload benchmark: clips per second and request latency of `POST /datasets/{name}/recordings`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import harness
import httpx
import numpy as np
import psycopg
import soundfile as sf

SAMPLE_RATE = 16_000
LABELS = ("positive", "negative", "noise")
BACKENDS = ("sqlite", "postgres")
REQUEST_TIMEOUT_S = 120.0


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
        return harness.percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return harness.percentile(self.latencies_ms, 99)

    def line(self) -> str:
        return (
            f"{self.backend:<8} clips={self.clips} concurrency={self.concurrency} wall={self.wall_s:.2f}s "
            f"clips/s={self.clips_per_s:.1f} p50={self.p50_ms:.1f}ms p99={self.p99_ms:.1f}ms errors={self.errors}"
        )

    def cells(self) -> list[str]:
        return [
            self.backend,
            str(self.clips),
            str(self.concurrency),
            f"{self.wall_s:.2f}",
            f"{self.clips_per_s:.1f}",
            f"{self.p50_ms:.1f}",
            f"{self.p99_ms:.1f}",
            str(self.errors),
        ]


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
        base_url=base_url, headers=harness.auth_headers(), limits=limits, timeout=REQUEST_TIMEOUT_S
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


parse_concurrency = harness.positive_int_list("concurrency")


@contextlib.contextmanager
def local_server(backend: str, log_path: Path) -> Iterator[str]:
    """`wake-training serve` with a fresh data dir (and database), no broker, stopped afterwards."""
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(harness.postgres_database()) if backend == "postgres" else None
        prefix = f"wake-training-bench-{backend}-"
        yield stack.enter_context(
            harness.wake_training_server(log_path, data_dir_prefix=prefix, database_url=database_url)
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both", help="database to bench on")
    parser.add_argument("--clips", type=harness.positive_int, default=200, help="clips uploaded per run (default 200)")
    parser.add_argument(
        "--concurrency",
        type=parse_concurrency,
        default=[8],
        help="requests in flight at once; a comma list like 1,8 runs each in turn (default 8)",
    )
    parser.add_argument(
        "--files-per-request", type=harness.positive_int, default=1, help="files in each upload (default 1)"
    )
    parser.add_argument("--url", help="bench this running server instead of starting one (--backend is ignored)")
    return parser.parse_args(argv)


def report(runs: list[Run]) -> None:
    columns = ("backend", "clips", "concurrency", "wall s", "clips/s", "p50 ms", "p99 ms", "errors")
    harness.print_table(columns, (run.cells() for run in runs), text_columns=1)


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
                print(f"  server log tail ({log_path}):\n{harness.log_tail(log_path)}", file=sys.stderr)
        runs.append(run)
    return runs


def run_all(args: argparse.Namespace, clips: list[bytes]) -> list[Run]:
    """Every run the arguments ask for, against the given server or a fresh one per backend."""
    if args.url:
        base_url = args.url.rstrip("/")
        health = httpx.get(f"{base_url}/health", headers=harness.auth_headers(), timeout=10)
        backend = health.json().get("database", "url") if health.status_code == 200 else "url"
        return bench_server(base_url, backend, clips, args, None)
    runs: list[Run] = []
    for backend in BACKENDS if args.backend == "both" else (args.backend,):
        with harness.server_log(f"wake-training-bench-{backend}-", backend) as log:
            with local_server(backend, log.path) as base_url:
                backend_runs = bench_server(base_url, backend, clips, args, log.path)
            runs += backend_runs
            log.keep = any(run.errors for run in backend_runs)
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
