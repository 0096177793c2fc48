"""The dashboard's files: served at `/` by the API, open without a token, outside the schema, shipped in the package."""

from __future__ import annotations

import fnmatch
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.dashboard.routes import STATIC_DIR
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def guarded_client(sqlite_template: Path, tmp_path: Path) -> Iterator[TestClient]:
    """The API with a token configured, on a fresh SQLite database."""
    shutil.copyfile(sqlite_template, tmp_path / "wake-training.db")
    settings = Settings(
        data_dir=tmp_path / "volume", database_url=f"sqlite:///{tmp_path / 'wake-training.db'}", api_token="s3cret"
    )
    with TestClient(app=create_app(settings)) as client:
        yield client


def test_the_page_and_its_modules_load_without_the_token_while_the_api_still_needs_it(
    guarded_client: TestClient,
) -> None:
    page = guarded_client.get("/")
    module = guarded_client.get("/js/app.js")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/app.js">' in page.text
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    assert guarded_client.get("/datasets").status_code == 401
    assert guarded_client.get("/datasets", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded_client.get("/health").status_code == 200


def test_the_dashboard_stays_out_of_the_openapi_schema(guarded_client: TestClient) -> None:
    paths = guarded_client.get("/schema/openapi.json").json()["paths"]

    assert "/" not in paths
    assert not any(path.startswith(("/js", "/{")) for path in paths)


def test_a_missing_file_is_a_json_404_not_the_page(guarded_client: TestClient) -> None:
    response = guarded_client.get("/js/nothing-here.js")

    assert response.status_code == 404
    assert response.json()["status_code"] == 404


def test_every_dashboard_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api"]
    files = [path.relative_to(ROOT / "api").as_posix() for path in STATIC_DIR.rglob("*") if path.is_file()]

    assert "dashboard/static/index.html" in files
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, p) and f.count("/") == p.count("/") for p in patterns)]
    assert unshipped == []
