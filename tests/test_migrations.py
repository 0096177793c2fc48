"""Alembic: upgrade from empty, downgrade to empty, and no drift between the models and the revisions."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, text

import migrations
from shared.db.base import Base, UTCDateTime, utcnow
from shared.db.models import Clip, Dataset
from shared.db.session import create_sync_db_engine

REPO = Path(__file__).resolve().parent.parent
TABLES = {"datasets", "clips", "jobs", "events", "deployments", "deployment_history", "devices", "device_reports"}


@pytest.fixture
def empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgres":
        make: Any = request.getfixturevalue("make_postgres_database")
        return make()
    return f"sqlite:///{tmp_path / 'empty.db'}"


def _tables(url: str) -> set[str]:
    engine = create_sync_db_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_then_downgrade_to_empty(empty_database_url: str) -> None:
    assert _tables(empty_database_url) == set()

    migrations.upgrade(empty_database_url)
    assert _tables(empty_database_url) == TABLES

    migrations.downgrade(empty_database_url)
    assert _tables(empty_database_url) == set()

    migrations.upgrade(empty_database_url)
    assert _tables(empty_database_url) == TABLES


def test_models_and_migrations_do_not_drift(empty_database_url: str) -> None:
    migrations.upgrade(empty_database_url)
    engine = create_sync_db_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_alembic_command_line_upgrades_and_downgrades_from_the_repo_root(empty_database_url: str) -> None:
    env = {**os.environ, "WAKE_TRAINING_DATABASE_URL": empty_database_url}
    alembic = [sys.executable, "-m", "alembic"]

    subprocess.run([*alembic, "upgrade", "head"], cwd=REPO, env=env, check=True, capture_output=True)
    assert _tables(empty_database_url) == TABLES
    subprocess.run([*alembic, "downgrade", "base"], cwd=REPO, env=env, check=True, capture_output=True)
    assert _tables(empty_database_url) == set()


def _clip_table(*more: sa.ColumnClause) -> sa.TableClause:
    return sa.table(
        "clips",
        *more,
        *(sa.column(name, sa.Uuid()) for name in ("id", "dataset_id")),
        *(sa.column(name, sa.String()) for name in ("label", "source", "original_format", "sha256")),
        *(sa.column(name, sa.Integer()) for name in ("original_sample_rate", "original_channels", "size_bytes")),
        *(sa.column(name, sa.Float()) for name in ("duration_s", "loudness_dbfs")),
        *(sa.column(name, UTCDateTime()) for name in ("created_at", "updated_at")),
    )


def _clip(dataset_id: uuid.UUID, source: str, sha: str, **extra: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": uuid.uuid4(),
        "dataset_id": dataset_id,
        "label": "positive",
        "source": source,
        "original_format": "WAV",
        "sha256": sha * 64,
        "original_sample_rate": 16000,
        "original_channels": 1,
        "size_bytes": 44,
        "duration_s": 1.0,
        "loudness_dbfs": -20.0,
        "created_at": now,
        "updated_at": now,
        **extra,
    }


def test_0007_lets_clips_come_from_devices_and_its_downgrade_keeps_only_what_a_person_accepted(
    empty_database_url: str,
) -> None:
    migrations.upgrade(empty_database_url, "0006")
    engine = create_sync_db_engine(empty_database_url)
    dataset_id = uuid.uuid4()
    datasets = sa.table(
        "datasets",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        *(sa.column(name, UTCDateTime()) for name in ("created_at", "updated_at")),
    )
    clips = _clip_table()
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(datasets).values(id=dataset_id, name="home", created_at=utcnow(), updated_at=utcnow())
            )
            connection.execute(sa.insert(clips).values(_clip(dataset_id, "upload", "a")))
        migrations.upgrade(empty_database_url)
        reviewable = _clip_table(sa.column("review", sa.String()))
        with engine.begin() as connection:
            connection.execute(sa.insert(reviewable).values(_clip(dataset_id, "device", "b", review="unreviewed")))
            connection.execute(sa.insert(reviewable).values(_clip(dataset_id, "device", "c", review=None)))
        for source, review in (("radio", None), ("device", "maybe")):
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
                connection.execute(sa.insert(reviewable).values(_clip(dataset_id, source, "d", review=review)))

        migrations.downgrade(empty_database_url, "0006")

        with engine.connect() as connection:
            rows = connection.execute(sa.select(clips.c.sha256, clips.c.source).order_by(clips.c.sha256)).all()
    finally:
        engine.dispose()
    assert [(sha[0], source) for sha, source in rows] == [("a", "upload"), ("c", "recording")]


CLIP = {
    "label": "positive",
    "source": "upload",
    "original_format": "WAV/PCM_16",
    "original_sample_rate": 16_000,
    "original_channels": 1,
    "duration_s": 1.0,
    "loudness_dbfs": -20.0,
    "peak_dbfs": -12.5,
    "sha256": "ab" * 32,
    "size_bytes": 32_044,
}


def _clip_columns(url: str) -> set[str]:
    engine = create_sync_db_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("clips")}
    finally:
        engine.dispose()


def test_the_fingerprint_revision_adds_and_drops_its_column_and_keeps_the_clips(empty_database_url: str) -> None:
    # Found by its file name, not its number: revisions landing beside it renumber the chain.
    script = ScriptDirectory.from_config(migrations.alembic_config(empty_database_url))
    [revision] = [r for r in script.walk_revisions() if Path(r.path).name.endswith("_clip_fingerprint.py")]
    assert isinstance(revision.down_revision, str)
    migrations.upgrade(empty_database_url)
    assert {"fingerprint", "peak_dbfs"} <= _clip_columns(empty_database_url)
    engine = create_sync_db_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            dataset_id = uuid.uuid4()
            conn.execute(insert(Dataset).values(id=dataset_id, name="kept"))
            conn.execute(insert(Clip).values(dataset_id=dataset_id, fingerprint=b"\x01\x02", **CLIP))

        migrations.downgrade(empty_database_url, revision.down_revision)
        assert "fingerprint" not in _clip_columns(empty_database_url)
        assert "peak_dbfs" in _clip_columns(empty_database_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT sha256, peak_dbfs FROM clips")).all() == [("ab" * 32, -12.5)]

        migrations.upgrade(empty_database_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT sha256, fingerprint FROM clips")).all() == [("ab" * 32, None)]
    finally:
        engine.dispose()
