"""Plumbing shared by the bench scripts: a throwaway `wake-training serve` with its database and log, tables, args."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

POSTGRES_ADMIN_DSN = os.environ.get("WAKE_TRAINING_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 30


def devbench_json(root: Path, script: Path, args: Sequence[str], what: str) -> Any:
    """Run `script` with the dev benchmark's own venv (in `root`) on `args` plus `--json FILE`; what it wrote there.
    A failure stops the bench with `what` and the script's output."""
    with tempfile.TemporaryDirectory(prefix="wake-training-bench-devbench-") as tmp:
        out = Path(tmp) / "out.json"
        command = [str(root / "venv" / "bin" / "python"), str(script), *args, "--json", str(out)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def auth_headers() -> dict[str, str]:
    """The bearer token the server will demand if WAKE_TRAINING_API_TOKEN is set."""
    token = os.environ.get("WAKE_TRAINING_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`th percentile of `values`, NaN when there are none."""
    return float(np.percentile(values, q)) if values else float("nan")


def positive_int(value: str) -> int:
    """An integer of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {value}")
    return number


def positive_int_list(what: str) -> Callable[[str], list[int]]:
    """An argparse type for `8` or `1,8,32`: integers of at least 1, in order, called `what` in its errors."""

    def parse(value: str) -> list[int]:
        try:
            levels = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma list of integers: {value!r}") from None
        if not levels or any(level < 1 for level in levels):
            raise argparse.ArgumentTypeError(f"{what} must be one or more integers >= 1: {value!r}")
        return levels

    return parse


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, text_columns: int) -> None:
    """A markdown table after a blank line; the first `text_columns` columns left-aligned, the rest right."""
    print()
    print(f"| {' | '.join(columns)} |")
    print(f"| {' | '.join('---' if i < text_columns else '---:' for i in range(len(columns)))} |")
    for row in rows:
        print(f"| {' | '.join(row)} |")


def free_port() -> int:
    """A port nothing listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(log_path: Path) -> str:
    """The last lines of the server's log."""
    lines = log_path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def wait_healthy(base_url: str, exit_code: Callable[[], int | None], log_path: Path, *, trust_env: bool = True) -> None:
    """Return once `GET /health` answers 200; raise if the server exits (`exit_code` not None) or never gets there."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if (code := exit_code()) is not None:
            raise RuntimeError(f"server exited with {code} before it was healthy:\n{log_tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=2, trust_env=trust_env).status_code == 200:
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
def wake_training_server(
    log_path: Path,
    *,
    data_dir_prefix: str,
    database_url: str | None = None,
    broker_url: str | None = None,
    trust_env: bool = True,
    data_dir: Path | None = None,
) -> Iterator[str]:
    """`wake-training serve` on a free port and a fresh data dir (or `data_dir`, which the caller then owns),
    migrated first if given a database; yields its URL."""
    cli = Path(sys.executable).parent / "wake-training"
    owned = data_dir is None
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix=data_dir_prefix))
    env = dict(os.environ, WAKE_TRAINING_DATA_DIR=str(data_dir))
    # Only what the caller asks for: an inherited database would be benched instead of SQLite or the fresh one,
    # and an inherited broker would make /health depend on a Redis the bench does not use.
    env.pop("WAKE_TRAINING_DATABASE_URL", None)
    env.pop("WAKE_TRAINING_BROKER_URL", None)
    if database_url is not None:
        env["WAKE_TRAINING_DATABASE_URL"] = database_url
    if broker_url is not None:
        env["WAKE_TRAINING_BROKER_URL"] = broker_url
    try:
        with log_path.open("ab") as log:
            if database_url is not None:
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
            # Stopped before this context exits, so that a database the caller drops afterwards has no server on it.
            try:
                base_url = f"http://127.0.0.1:{port}"
                wait_healthy(base_url, process.poll, log_path, trust_env=trust_env)
                yield base_url
            finally:
                stop(process)
    finally:
        if owned:
            shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class ServerLog:
    """A server's log file; kept unless the caller clears `keep` once a run has gone well."""

    path: Path
    keep: bool = True


@contextlib.contextmanager
def server_log(prefix: str, label: str) -> Iterator[ServerLog]:
    """A fresh temporary log file, deleted afterwards unless `keep` is still set, when its path is printed."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
    os.close(fd)
    log = ServerLog(Path(name))
    try:
        yield log
    finally:
        if log.keep:
            print(f"{label} server log kept at {log.path}", file=sys.stderr)
        else:
            log.path.unlink(missing_ok=True)
