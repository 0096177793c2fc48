"""Devices: a token per device, scoped to one deployment's bundle and the device's own record and reports."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from shared.db.models import Device
from shared.settings import Settings
from tests.job_factory import model_bytes, trained_job

ADMIN_TOKEN = "s3cret-admin"


@pytest.fixture(params=["open", "admin-token"])
def api(request: pytest.FixtureRequest, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], Settings]]:
    """An app without WAKE_TRAINING_API_TOKEN, and one with it: device tokens work the same in both."""
    if request.param == "admin-token":
        settings = settings.model_copy(update={"api_token": ADMIN_TOKEN})
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    else:
        admin = {}
    with TestClient(app=create_app(settings)) as client:
        yield client, admin, settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def setup_deployments(client: TestClient, admin: dict[str, str], settings: Settings) -> dict[str, str]:
    """Deployments "hall" and "attic" of one dataset; returns their jobs."""
    dataset = client.post("/datasets", json={"name": "home", "wake_phrase": "hey home"}, headers=admin).json()
    jobs = {}
    for name in ("hall", "attic"):
        jobs[name] = trained_job(settings, dataset=dataset)
        response = client.post("/deployments", json={"name": name, "job_id": jobs[name]}, headers=admin)
        assert response.status_code == 201, response.text
    return jobs


def add_device(client: TestClient, admin: dict[str, str], deployment: str = "hall", **fields: Any) -> dict[str, Any]:
    response = client.post("/devices", json={"name": "kitchen-pi", "deployment": deployment, **fields}, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_new_device_gets_a_token_shown_once_and_only_its_hash_is_stored(
    client: TestClient, settings: Settings
) -> None:
    setup_deployments(client, {}, settings)

    created = add_device(client, {}, report_audio=True)

    token = created["token"]
    assert token.startswith("wtd_") and len(token) == 4 + 43
    assert created["token_hint"] == token[:8]
    assert (created["name"], created["deployment"], created["report_audio"]) == ("kitchen-pi", "hall", True)
    assert (created["revoked"], created["detections"], created["near_misses"]) == (False, 0, 0)
    assert created["last_seen_at"] is None and created["running_version"] is None
    listed = client.get("/devices").json()
    assert [d["id"] for d in listed] == [created["id"]]
    assert "token" not in listed[0] and "token" not in client.get(f"/devices/{created['id']}").json()
    assert [d["id"] for d in client.get("/deployments/hall").json()["devices"]] == [created["id"]]

    async def stored() -> Device:
        async with client.app.state.session_factory() as session:
            return await session.scalar(select(Device))

    row = client.blocking_portal.call(stored)
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(value) for value in vars(row).values()}


def test_a_device_token_reads_its_own_bundle_and_model_and_its_poll_is_recorded(api) -> None:
    client, admin, settings = api
    jobs = setup_deployments(client, admin, settings)
    device = add_device(client, admin, report_audio=True)
    model_sha = hashlib.sha256(model_bytes(settings, jobs["hall"])).hexdigest()

    bundle = client.get(
        "/deployments/hall/bundle",
        headers={**bearer(device["token"]), "X-Wake-Edge-Version": "1", "X-Wake-Edge-Model-Sha256": model_sha},
    )
    model = client.get(bundle.json()["model"]["url"], headers=bearer(device["token"]))
    by_query = client.get("/deployments/hall/bundle", params={"access_token": device["token"]})
    me = client.get("/devices/self", headers=bearer(device["token"]))

    assert bundle.status_code == 200
    assert bundle.json()["report_audio"] is True  # the device's consent; the admin's bundle says false
    assert client.get("/deployments/hall/bundle", headers=admin).json()["report_audio"] is False
    assert model.status_code == 200 and model.content == model_bytes(settings, jobs["hall"])
    assert by_query.status_code == 200
    assert me.status_code == 200
    assert (me.json()["id"], me.json()["running_version"], me.json()["running_sha256"]) == (device["id"], 1, model_sha)
    assert me.json()["last_seen_at"] is not None
    assert client.get(f"/devices/{device['id']}", headers=admin).json()["running_sha256"] == model_sha
    # Telemetry that makes no sense is ignored: the poll itself must not fail over it.
    odd = client.get("/deployments/hall/bundle", headers={**bearer(device["token"]), "X-Wake-Edge-Version": "v3"})
    assert odd.status_code == 200
    assert client.get("/devices/self", headers=bearer(device["token"])).json()["running_version"] == 1


def test_a_device_token_is_refused_anything_but_its_own_bundle_and_reports(api) -> None:
    client, admin, settings = api
    jobs = setup_deployments(client, admin, settings)
    token = bearer(add_device(client, admin)["token"])
    other_model = hashlib.sha256(model_bytes(settings, jobs["attic"])).hexdigest()

    refused = {
        "another deployment's bundle": client.get("/deployments/attic/bundle", headers=token),
        "another deployment's model": client.get(f"/deployments/attic/models/{other_model}", headers=token),
        "datasets": client.get("/datasets", headers=token),
        "training": client.post("/train", json={"dataset": "home"}, headers=token),
        "its deployment's record": client.get("/deployments/hall", headers=token),
        "promoting": client.put("/deployments/hall", json={"job_id": jobs["attic"]}, headers=token),
        "devices": client.get("/devices", headers=token),
        "making devices": client.post("/devices", json={"name": "x", "deployment": "hall"}, headers=token),
        "events": client.get("/events", headers=token),
    }

    for what, response in refused.items():
        assert response.status_code == 403, (what, response.text)
        assert set(response.json()) >= {"status_code", "detail"}, what
    assert "bundle" in refused["datasets"].json()["detail"]
    assert client.get("/jobs", headers=admin).json()["total"] == 2  # nothing was queued


def test_a_revoked_or_unknown_device_token_is_401_and_the_device_stays_listed(api) -> None:
    client, admin, settings = api
    setup_deployments(client, admin, settings)
    device = add_device(client, admin)

    assert client.delete(f"/devices/{device['id']}", headers=admin).status_code == 204

    assert client.get("/deployments/hall/bundle", headers=bearer(device["token"])).status_code == 401
    assert client.get("/devices/self", headers=bearer(device["token"])).status_code == 401
    unknown = client.get("/deployments/hall/bundle", headers=bearer("wtd_" + "x" * 43))
    assert unknown.status_code == 401 and "device token" in unknown.json()["detail"]
    listed = client.get(f"/devices/{device['id']}", headers=admin).json()
    assert listed["revoked"] is True and listed["revoked_at"] is not None
    assert client.delete(f"/devices/{device['id']}", headers=admin).status_code == 409


def test_deleting_a_deployment_stops_its_devices_tokens(client: TestClient, settings: Settings) -> None:
    setup_deployments(client, {}, settings)
    token = bearer(add_device(client, {})["token"])

    assert client.delete("/deployments/hall").status_code == 204

    assert client.get("/deployments/hall/bundle", headers=token).status_code == 401
    assert client.get("/devices").json() == []


def test_the_admin_token_is_still_required_for_admin_routes_when_set(settings: Settings) -> None:
    guarded = settings.model_copy(update={"api_token": ADMIN_TOKEN})
    with TestClient(app=create_app(guarded)) as client:
        assert client.get("/deployments").status_code == 401
        assert client.get("/deployments/hall/bundle").status_code == 401
        assert client.get("/deployments", headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_self_routes_are_a_devices_own(client: TestClient) -> None:
    response = client.get("/devices/self")
    assert response.status_code == 403
    assert "device's token" in response.json()["detail"]


def test_a_device_can_be_renamed_and_its_consent_changed(client: TestClient, settings: Settings) -> None:
    setup_deployments(client, {}, settings)
    device = add_device(client, {})

    changed = client.patch(f"/devices/{device['id']}", json={"name": "hall-pi", "report_audio": True})

    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["report_audio"]) == ("hall-pi", True)
    bundle = client.get("/deployments/hall/bundle", headers=bearer(device["token"])).json()
    assert bundle["report_audio"] is True


def test_device_requests_that_make_no_sense_are_4xx(client: TestClient, settings: Settings) -> None:
    setup_deployments(client, {}, settings)
    device = add_device(client, {})
    missing = uuid.uuid4()

    assert client.post("/devices", json={"name": "pi", "deployment": "nope"}).status_code == 404
    assert client.post("/devices", json={"name": "Kitchen Pi", "deployment": "hall"}).status_code == 422
    assert client.post("/devices", json={"name": "pi"}).status_code == 422
    assert client.get("/devices", params={"deployment": "nope"}).status_code == 404
    assert client.get(f"/devices/{missing}").status_code == 404
    assert client.get("/devices/not-a-uuid").status_code == 422
    assert client.patch(f"/devices/{missing}", json={"name": "x"}).status_code == 404
    assert client.patch(f"/devices/{device['id']}", json={}).status_code == 422
    assert client.patch(f"/devices/{device['id']}", json={"name": "Bad Name"}).status_code == 422
    assert client.delete(f"/devices/{missing}").status_code == 404
    assert [d["name"] for d in client.get("/devices", params={"deployment": "hall"}).json()] == ["kitchen-pi"]
    assert client.get("/devices", params={"deployment": "attic"}).json() == []
