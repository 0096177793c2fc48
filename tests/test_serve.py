"""The `wake-training` command as a user runs it: serve with the embedded default, and survive a kill."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.server import SHUTDOWN_GRACE_S
from tests.audio_factory import wav_bytes
from tests.faults import all_clips, assert_aftermath
from tests.processes import CLI, Server, clean_env


@pytest.fixture
def server_env(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = clean_env(WAKE_TRAINING_DATA_DIR=str(tmp_path / "volume"))
    if backend == "postgres":
        url = request.getfixturevalue("make_postgres_database")()
        env["WAKE_TRAINING_DATABASE_URL"] = url
        subprocess.run([CLI, "migrate"], env=env, check=True, capture_output=True)
    return env


def test_serve_with_no_settings_answers_health_with_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    # The README's first command, minus the install: nothing configured but where the data goes.
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    server = Server(clean_env(), tmp_path / "serve.log", cwd=checkout)
    try:
        health = httpx.get(f"{server.url}/health").json()
    finally:
        server.stop()
    assert health["status"] == "ok"
    assert health["database"] == "sqlite"
    assert health["mode"] == "embedded"
    assert (checkout / "data" / "wake-training" / "wake-training.db").is_file()


def test_a_stop_ends_open_event_streams_instead_of_waiting_on_them(tmp_path: Path) -> None:
    # A dashboard tab keeps /events open for good; docker stop sends SIGTERM and kills 10 s later.
    server = Server(clean_env(WAKE_TRAINING_DATA_DIR=str(tmp_path / "volume")), tmp_path / "serve.log")
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(5, read=2 * SHUTDOWN_GRACE_S)) as http,
            http.stream("GET", f"{server.url}/events") as events,
        ):
            assert events.status_code == 200
            started = time.monotonic()
            server.process.terminate()
            with contextlib.suppress(httpx.HTTPError):
                for _ in events.iter_bytes():
                    pass
            server.process.wait(2 * SHUTDOWN_GRACE_S)
            stopped_s = time.monotonic() - started
    finally:
        server.stop()
    # uvicorn ends a stop by raising the signal it caught again: -15 is its clean exit on SIGTERM.
    assert server.process.returncode in (0, -15), server.log.read_text()
    assert "ERROR" not in server.log.read_text()
    assert stopped_s < SHUTDOWN_GRACE_S, stopped_s


def _hammer(url: str, stop: threading.Event, worker: int) -> None:
    """Upload clips and soft-delete some of them until told to stop or the server dies."""
    with httpx.Client(base_url=url, timeout=10) as http:
        n = 0
        while not stop.is_set():
            files = [
                ("files", (f"w{worker}-{n}-{k}.wav", wav_bytes(seed=worker * 100_000 + n * 10 + k))) for k in range(3)
            ]
            try:
                response = http.post("/datasets/kitchen/recordings", files=files, data={"label": "positive"})
                if response.status_code == 201 and n % 2 == 0:
                    http.delete(f"/datasets/kitchen/recordings/{response.json()['clips'][0]['id']}")
            except httpx.HTTPError:
                return
            n += 1


@pytest.mark.integration
@pytest.mark.faults
def test_sigkill_mid_upload_leaves_rows_and_files_in_step(server_env: dict[str, str], tmp_path: Path) -> None:
    volume = Path(server_env["WAKE_TRAINING_DATA_DIR"])
    server = Server(server_env, tmp_path / "serve.log")
    httpx.post(f"{server.url}/datasets", json={"name": "kitchen"}).raise_for_status()
    stop = threading.Event()
    workers = [threading.Thread(target=_hammer, args=(server.url, stop, i)) for i in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(2.5)
    server.kill()
    stop.set()
    for worker in workers:
        worker.join(30)

    subprocess.run([CLI, "reconcile", "--grace", "0"], env=server_env, check=True, capture_output=True)
    server = Server(server_env, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            clips = all_clips(http, "kitchen")
            assert_aftermath(http, volume)
    finally:
        server.stop()

    assert len(clips) > 0
    expected = {f"{'trash' if clip['deleted'] else 'clips'}/{clip['id']}.wav": clip["sha256"] for clip in clips}
    dataset = volume / "datasets" / "kitchen"
    on_disk = {
        path.relative_to(dataset).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in dataset.rglob("*")
        if path.is_file()
    }
    assert on_disk == expected


@pytest.mark.integration
@pytest.mark.faults
def test_files_of_an_upload_killed_before_its_commit_go_at_the_next_reconcile_without_waiting(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    """The distributed mode's step after a crash: `reconcile` with its default 15-minute grace still removes what
    the killed API wrote, because the API's lease on the volume says its writer is gone."""
    volume = Path(server_env["WAKE_TRAINING_DATA_DIR"])
    server = Server(server_env, tmp_path / "serve.log")
    httpx.post(f"{server.url}/datasets", json={"name": "kitchen"}).raise_for_status()
    files = [("files", (f"take-{k}.wav", wav_bytes(seconds=0.5, seed=k))) for k in range(300)]

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies under it
            httpx.post(f"{server.url}/datasets/kitchen/recordings", files=files, data={"label": "positive"}, timeout=60)

    upload = threading.Thread(target=send)
    upload.start()
    # Killed while the upload's files are being written: some are on the volume, their rows not yet committed.
    clips_dir = volume / "datasets" / "kitchen" / "clips"
    deadline = time.monotonic() + 60
    while len(list(clips_dir.glob("*.wav"))) < 10:
        assert time.monotonic() < deadline, "the upload never started writing"
        time.sleep(0.002)
    server.kill()
    upload.join(30)
    left = list(clips_dir.glob("*.wav"))

    subprocess.run([CLI, "reconcile"], env=server_env, check=True, capture_output=True)

    assert len(left) >= 10
    assert not list(clips_dir.glob("*.wav"))
    assert not list((volume / "writers").glob("*/*.intent"))
