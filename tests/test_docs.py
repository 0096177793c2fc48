"""The README stays true: its settings table is the Settings object's, and it lists every endpoint."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from litestar.testing import TestClient

from shared.settings import DEFAULT_CORS_ORIGINS, Settings, settings_table

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_settings_table_is_generated_from_the_settings() -> None:
    block = re.search(r"<!-- settings-table -->\n(.*?)\n<!-- /settings-table -->", README, re.S)
    assert block is not None
    assert block.group(1) == settings_table()


def test_readme_lists_every_endpoint_of_the_api(client: TestClient) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method in operations:
            assert f"| {method.upper()} | `{path}` |" in README, f"{method.upper()} {path} is not in the README"


def test_settings_come_from_wake_training_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("WAKE_TRAINING_"):
            monkeypatch.delenv(key)
    assert Settings().cors_origins == DEFAULT_CORS_ORIGINS
    assert Settings().embedded is True

    monkeypatch.setenv("WAKE_TRAINING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAKE_TRAINING_CORS_ORIGINS", "http://a.example, http://b.example:3000")
    monkeypatch.setenv("WAKE_TRAINING_MAX_UPLOAD_MB", "1.5")
    monkeypatch.setenv("WAKE_TRAINING_BROKER_URL", "redis://127.0.0.1:6379/0")
    settings = Settings()

    assert settings.cors_origins == ["http://a.example", "http://b.example:3000"]
    assert settings.max_upload_bytes == 1_572_864
    assert settings.embedded is False
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'wake-training.db'}"
