"""GET /health reports the data root, the database and the broker."""

from __future__ import annotations

from litestar.testing import TestClient

from api.app import create_app
from shared.settings import Settings


def test_health_reports_database_and_embedded_broker(client: TestClient, settings: Settings) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database_reachable"] is True
    assert body["broker"] == "embedded"
    assert body["mode"] == "embedded"
    assert body["data_dir"] == str(settings.data_dir)


def test_health_is_503_when_the_broker_does_not_answer(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    with TestClient(app=create_app(unreachable)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["broker_reachable"] is False
    assert response.json()["database_reachable"] is True
