"""The service as separate processes for tests: `wake-training serve` and Celery workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).parent / "wake-training")
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any WAKE_TRAINING_* setting, plus the overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAKE_TRAINING_")}
    # The checkout under test first: an editable install made from another checkout would run that one's code.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(overrides)
    return env


class Server:
    """A `wake-training serve` subprocess on a free port, answering /health."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [CLI, "serve", "--port", str(self.port)], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"serve did not answer /health within 60 s: {log.read_text()}")

    def kill(self) -> None:
        """SIGKILL, as a power cut would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Terminate, then kill if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class Worker:
    """A `wake-training worker` (Celery, prefork) in its own process group, ready when it says so."""

    def __init__(self, env: dict[str, str], log: Path, name: str) -> None:
        self.name = name
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [CLI, "worker", "--concurrency", "1", "--hostname", name, "--loglevel", "INFO"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {name} exited: {log.read_text()}")
            if " ready." in log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"worker {name} was not ready within 90 s: {log.read_text()}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, leaving its job mid-step."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Warm shutdown; kill if it takes too long."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
