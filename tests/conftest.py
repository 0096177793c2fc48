"""Fixtures: a fresh database (SQLite and the real Postgres) and data volume per test, and an API client."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

import migrations
from api.app import create_app
from shared.settings import Settings
from tests.audio_factory import wav_bytes

POSTGRES_ADMIN_DSN = os.environ.get("WAKE_TRAINING_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgres")


def service_missing(what: str, exc: BaseException) -> None:
    """Under CI a missing service fails the run; on a developer's machine the test is skipped."""
    message = f"{what} is not reachable: {exc}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: the service is required)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session", autouse=True)
def shared_training_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One training cache for the session, as one machine's jobs share one: banks are made once, not per test."""
    folder = tmp_path_factory.mktemp("training-cache")
    previous = os.environ.get("WAKE_TRAINING_CACHE_DIR")
    os.environ["WAKE_TRAINING_CACHE_DIR"] = str(folder)  # servers started as subprocesses inherit it
    yield folder
    if previous is None:
        os.environ.pop("WAKE_TRAINING_CACHE_DIR", None)
    else:
        os.environ["WAKE_TRAINING_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The admin DSN of the real Postgres on 127.0.0.1, checked to answer."""
    try:
        with psycopg.connect(POSTGRES_ADMIN_DSN, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        service_missing("Postgres on 127.0.0.1:5432", exc)
    yield POSTGRES_ADMIN_DSN


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The base URL of the real Redis on 127.0.0.1:6379, checked to answer."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis on 127.0.0.1:6379", exc)
    finally:
        client.close()
    return "redis://127.0.0.1:6379"


@pytest.fixture(scope="session")
def make_postgres_database(postgres_server: str) -> Iterator[Any]:
    """A factory of fresh, empty Postgres databases, all dropped at the end of the run."""
    created: list[str] = []
    admin = psycopg.connect(postgres_server, autocommit=True)

    def make() -> str:
        name = f"wake_training_test_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        info = admin.info
        return f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}"

    yield make
    for name in created:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def postgres_url(make_postgres_database: Any) -> str:
    """One migrated Postgres database for the run; tables are emptied before each test."""
    url = make_postgres_database()
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


def _empty_postgres(url: str) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE events, jobs, clips, datasets, deployments, deployment_history, devices, device_reports CASCADE"
        )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs against: each API test runs on both."""
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of the test's backend."""
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        _empty_postgres(url)
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "wake-training.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own data volume and database; small limits where tests probe them."""
    return Settings(data_dir=tmp_path / "volume", database_url=database_url, max_upload_mb=2)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client for an app started (lifespan included) on the test's settings."""
    with TestClient(app=create_app(settings)) as test_client:
        yield test_client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the real Postgres are integration tests; the rest of the default run are unit tests."""
    for item in items:
        if item.get_closest_marker("integration") or item.get_closest_marker("e2e"):
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgres":
            item.add_marker(pytest.mark.integration)
        else:
            item.add_marker(pytest.mark.unit)


# Helpers the API tests share.


def create_dataset(client: TestClient, name: str = "kitchen", **fields: Any) -> dict[str, Any]:
    """Create a dataset and return its JSON; fails the test on anything but 201."""
    response = client.post("/datasets", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def upload(
    client: TestClient,
    dataset: str,
    files: list[tuple[str, bytes]] | None = None,
    *,
    label: str | None = "positive",
    **fields: str,
) -> Any:
    """POST files as multipart to a dataset's recordings; returns the raw response."""
    if files is None:
        files = [("take.wav", wav_bytes())]
    data = {key: value for key, value in {"label": label, **fields}.items() if value is not None}
    return client.post(
        f"/datasets/{dataset}/recordings",
        files=[("files", (name, blob, "application/octet-stream")) for name, blob in files],
        data=data,
    )


def add_clips(client: TestClient, dataset: str, count: int, *, label: str = "positive", seed: int = 0, **fields: str):
    """Upload `count` distinct one-second clips; returns their JSON."""
    files = [(f"clip-{seed + i}.wav", wav_bytes(seed=seed + i)) for i in range(count)]
    response = upload(client, dataset, files, label=label, **fields)
    assert response.status_code == 201, response.text
    return response.json()["clips"]


FINISHED_JOB_STATES = {"succeeded", "failed", "cancelled"}


def wait_for_job(http: Any, job_id: str, statuses: set[str] = FINISHED_JOB_STATES, timeout: float = 120) -> dict:
    """Poll GET /jobs/{id} (on an httpx or test client) until the job is in one of `statuses`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} is {job['status']} after {timeout} s, not one of {statuses}: {job}")


def dataset_state(client: TestClient, settings: Settings, name: str) -> dict[str, Any]:
    """Everything a user could observe of a dataset: its rows, its files (with hashes), its metrics."""
    folder = settings.data_dir / "datasets" / name
    files = {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    clips = client.get(f"/datasets/{name}/recordings", params={"deleted": "all", "limit": 500}).json()
    return {
        "dataset": client.get(f"/datasets/{name}").json(),
        "clips": clips,
        "files": files,
        "metrics": client.get(f"/datasets/{name}/metrics").json(),
        "datasets": client.get("/datasets").json(),
    }
