"""Alembic: upgrade from empty, downgrade to empty, and no drift between the models and the revisions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import migrations
from shared.db.base import Base
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
