"""Deployments: a named, versioned pointer at a succeeded train job's model, and the bundle devices follow.

The jobs are made without training (tests/job_factory.py): rows as a worker leaves them, with a small ONNX export.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from shared.settings import Settings
from shared.storage import Storage
from tests.conftest import create_dataset
from tests.job_factory import model_bytes, trained_job


@pytest.fixture
def kitchen(client: TestClient) -> dict[str, Any]:
    return create_dataset(client, "kitchen", wake_phrase="hey kitchen")


def deploy(client: TestClient, name: str, job_id: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/deployments", json={"name": name, "job_id": job_id, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_deployment_serves_the_jobs_model_at_its_calibrated_threshold(
    client: TestClient, settings: Settings, kitchen: dict
) -> None:
    job = trained_job(settings, dataset=kitchen, threshold=0.8)

    created = deploy(client, "kitchen-speaker", job, description="the speaker by the fridge")

    assert created["name"] == "kitchen-speaker"
    assert created["version"] == 1
    assert created["job_id"] == job
    assert (created["dataset"], created["phrase"]) == ("kitchen", "hey kitchen")
    assert (created["threshold"], created["threshold_override"]) == (0.8, None)
    assert created["precision"] == "fp32"
    assert created["model_sha256"] == sha256(model_bytes(settings, job))
    assert created["description"] == "the speaker by the fridge"
    assert [(h["version"], h["action"], h["actor"]) for h in created["history"]] == [(1, "created", "anonymous")]
    assert created["devices"] == []
    assert client.get("/deployments/kitchen-speaker").json() == created


def test_deployments_are_listed_by_name_without_history(client: TestClient, settings: Settings, kitchen: dict) -> None:
    job = trained_job(settings, dataset=kitchen)
    deploy(client, "b-room", job)
    deploy(client, "a-room", job, threshold=0.3, precision="int8")

    listed = client.get("/deployments").json()

    assert [d["name"] for d in listed] == ["a-room", "b-room"]
    assert (listed[0]["threshold"], listed[0]["threshold_override"], listed[0]["precision"]) == (0.3, 0.3, "int8")
    assert listed[0]["model_sha256"] == sha256(model_bytes(settings, job, "int8"))
    assert "history" not in listed[0] and "devices" not in listed[0]


def test_every_change_is_a_version_in_the_history_newest_first_and_rollback_returns_to_the_one_before(
    client: TestClient, settings: Settings, kitchen: dict
) -> None:
    first, second = trained_job(settings, dataset=kitchen, threshold=0.8), trained_job(settings, dataset=kitchen)
    deploy(client, "hall", first)

    tuned = client.patch("/deployments/hall", json={"threshold": 0.6}).json()
    promoted = client.put("/deployments/hall", json={"job_id": second, "precision": "int8"}).json()
    rolled_back = client.post("/deployments/hall/rollback").json()

    assert (tuned["version"], tuned["threshold"]) == (2, 0.6)
    assert (promoted["version"], promoted["job_id"], promoted["precision"]) == (3, second, "int8")
    assert promoted["threshold_override"] is None  # a promoted job runs at its own calibrated threshold
    assert promoted["model_sha256"] == sha256(model_bytes(settings, second, "int8"))
    # Back to version 2: the first job, at 0.6, fp32; as a new version 4.
    assert (rolled_back["version"], rolled_back["job_id"]) == (4, first)
    assert (rolled_back["threshold"], rolled_back["precision"]) == (0.6, "fp32")
    history = client.get("/deployments/hall").json()["history"]
    assert [(h["version"], h["action"], h["job_id"], h["threshold"], h["precision"]) for h in history] == [
        (4, "rolled_back", first, 0.6, "fp32"),
        (3, "promoted", second, 0.8, "int8"),
        (2, "updated", first, 0.6, "fp32"),
        (1, "created", first, 0.8, "fp32"),
    ]


def test_a_promote_without_precision_keeps_the_deployments(client: TestClient, settings: Settings, kitchen: dict):
    deploy(client, "pi", trained_job(settings, dataset=kitchen), precision="int8")
    promoted = client.put("/deployments/pi", json={"job_id": trained_job(settings, dataset=kitchen)}).json()
    assert promoted["precision"] == "int8"


def test_a_description_change_is_no_new_version_but_a_threshold_change_is(
    client: TestClient, settings: Settings, kitchen: dict
) -> None:
    deploy(client, "hall", trained_job(settings, dataset=kitchen, threshold=0.8), threshold=0.5)

    described = client.patch("/deployments/hall", json={"description": "upstairs"}).json()
    same = client.patch("/deployments/hall", json={"threshold": 0.5}).json()
    calibrated = client.patch("/deployments/hall", json={"threshold": None}).json()

    assert (described["version"], described["description"]) == (1, "upstairs")
    assert same["version"] == 1
    assert (calibrated["version"], calibrated["threshold"], calibrated["threshold_override"]) == (2, 0.8, None)


def test_rolling_back_the_first_version_is_409(client: TestClient, settings: Settings, kitchen: dict) -> None:
    deploy(client, "hall", trained_job(settings, dataset=kitchen))
    response = client.post("/deployments/hall/rollback")
    assert response.status_code == 409
    assert "first version" in response.json()["detail"]
    assert client.get("/deployments/hall").json()["version"] == 1


def test_what_a_deployment_cannot_point_at_is_refused_and_nothing_is_made(
    client: TestClient, settings: Settings, kitchen: dict
) -> None:
    good = trained_job(settings, dataset=kitchen)
    deploy(client, "taken", good)
    refusals = {
        "unknown job": ({"name": "a", "job_id": str(uuid.uuid4())}, 404),
        "running job": ({"name": "a", "job_id": trained_job(settings, status="running")}, 409),
        "failed job": ({"name": "a", "job_id": trained_job(settings, status="failed")}, 409),
        "synthesis job": ({"name": "a", "job_id": trained_job(settings, kind="synthesize")}, 409),
        "no int8 model": ({"name": "a", "job_id": trained_job(settings, int8=False), "precision": "int8"}, 409),
        "name taken": ({"name": "taken", "job_id": good}, 409),
        "bad name": ({"name": "Kitchen Speaker", "job_id": good}, 422),
        "threshold 0": ({"name": "a", "job_id": good, "threshold": 0}, 422),
        "threshold 1": ({"name": "a", "job_id": good, "threshold": 1}, 422),
        "unknown precision": ({"name": "a", "job_id": good, "precision": "fp16"}, 422),
        "job id not a uuid": ({"name": "a", "job_id": "latest"}, 422),
        "unknown field": ({"name": "a", "job_id": good, "model": "x"}, 422),
    }
    for what, (body, status) in refusals.items():
        response = client.post("/deployments", json=body)
        assert response.status_code == status, (what, response.text)
        assert set(response.json()) >= {"status_code", "detail"}, what
    assert [d["name"] for d in client.get("/deployments").json()] == ["taken"]


def test_changes_to_an_unknown_deployment_are_404_and_bad_ones_change_nothing(
    client: TestClient, settings: Settings, kitchen: dict
) -> None:
    job = trained_job(settings, dataset=kitchen)
    assert client.get("/deployments/nope").status_code == 404
    assert client.put("/deployments/nope", json={"job_id": job}).status_code == 404
    assert client.patch("/deployments/nope", json={"threshold": 0.5}).status_code == 404
    assert client.post("/deployments/nope/rollback").status_code == 404
    assert client.delete("/deployments/nope").status_code == 404
    assert client.get("/deployments/Not_A_Name").status_code == 422

    deploy(client, "hall", job)
    assert client.put("/deployments/hall", json={"job_id": trained_job(settings, status="failed")}).status_code == 409
    assert client.put("/deployments/hall", json={"job_id": str(uuid.uuid4())}).status_code == 404
    assert client.patch("/deployments/hall", json={}).status_code == 422
    assert client.patch("/deployments/hall", json={"threshold": 1.5}).status_code == 422
    assert client.get("/deployments/hall").json()["version"] == 1


def test_a_deleted_deployment_is_gone_with_its_history(client: TestClient, settings: Settings, kitchen: dict) -> None:
    deploy(client, "hall", trained_job(settings, dataset=kitchen))

    assert client.delete("/deployments/hall").status_code == 204

    assert client.get("/deployments/hall").status_code == 404
    assert client.get("/deployments").json() == []
    again = deploy(client, "hall", trained_job(settings, dataset=kitchen))
    assert [h["version"] for h in again["history"]] == [1]


def test_every_change_publishes_deployment_updated_with_the_new_job(
    client: TestClient, settings: Settings, kitchen: dict
) -> None:
    first, second = trained_job(settings, dataset=kitchen), trained_job(settings, dataset=kitchen)
    deploy(client, "hall", first)
    client.put("/deployments/hall", json={"job_id": second})
    client.patch("/deployments/hall", json={"threshold": 0.4})
    client.post("/deployments/hall/rollback")
    client.delete("/deployments/hall")

    with client.websocket_connect("/ws/events?dataset=kitchen&after=0") as socket:
        events = [socket.receive_json() for _ in range(6)]  # dataset.created, then the deployment's five

    updates = [e for e in events if e["type"] == "deployment.updated"]
    assert [(u["payload"]["action"], u["payload"]["version"], u["job_id"]) for u in updates] == [
        ("created", 1, first),
        ("promoted", 2, second),
        ("updated", 3, second),
        ("rolled_back", 4, second),
        ("deleted", 4, second),
    ]
    assert all(u["dataset"] == "kitchen" and u["payload"]["deployment"] == "hall" for u in updates)
    assert updates[0]["payload"]["model_sha256"] == sha256(model_bytes(settings, first))


def test_the_bundle_is_the_manifest_a_device_runs_with_an_etag_of_its_bytes(
    client: TestClient, settings: Settings, kitchen: dict
) -> None:
    job = trained_job(settings, dataset=kitchen, threshold=0.8, window_s=0.5)
    deploy(client, "hall", job)

    response = client.get("/deployments/hall/bundle")

    assert response.status_code == 200
    assert response.headers["etag"] == f'"{sha256(response.content)}"'
    bundle = response.json()
    model = bundle.pop("model")
    assert bundle == {
        "deployment": "hall",
        "version": 1,
        "job_id": job,
        "dataset": "kitchen",
        "phrase": "hey kitchen",
        "threshold": 0.8,
        "window_s": 0.5,
        "hop_s": 0.1,
        "refractory_s": 1.0,
        "sample_rate": 16000,
        "near_miss_ratio": 0.7,
        "report_audio": False,
        "updated_at": bundle["updated_at"],
    }
    data = model_bytes(settings, job)
    assert model == {
        "precision": "fp32",
        "sha256": sha256(data),
        "size_bytes": len(data),
        "url": f"/deployments/hall/models/{sha256(data)}",
    }


def test_a_streaming_jobs_bundle_serves_its_streaming_graph_which_a_device_installs_and_runs(
    client: TestClient, settings: Settings, kitchen: dict, tmp_path
) -> None:
    from tests.tone_model import THRESHOLD, quiet, store_tone_model_job, with_tone
    from wake_edge.bundle import Bundle, verify
    from wake_edge.detector import Scorer, StreamDetector
    from wake_edge.manifest import Manifest

    job = store_tone_model_job(settings.resolved_database_url, settings.data_dir, "kitchen", architecture="streaming")
    deploy(client, "hall", job)

    bundle = client.get("/deployments/hall/bundle").json()

    export = Storage(settings.data_dir).job_export_dir(uuid.UUID(job))
    graph = (export / "model.streaming.onnx").read_bytes()
    assert bundle["model"]["sha256"] == sha256(graph) and bundle["model"]["size_bytes"] == len(graph)
    assert bundle["hop_s"] == pytest.approx(0.03) and bundle["threshold"] == THRESHOLD
    assert bundle["streaming"]["chunk_samples"] == 2880 and bundle["streaming"]["states"][0]["input"] == "state_audio"
    download = client.get(bundle["model"]["url"])
    assert download.status_code == 200 and download.content == graph
    int8 = client.put("/deployments/hall", json={"job_id": job, "precision": "int8"}).json()
    assert int8["model_sha256"] == sha256((export / "model.streaming.int8.onnx").read_bytes())

    (tmp_path / "model.onnx").write_bytes(graph)
    manifest = Manifest.from_json(bundle)
    model = verify(tmp_path / "model.onnx", manifest)
    assert model.streaming
    detector = StreamDetector(Scorer.from_bundle(Bundle(manifest, model, tmp_path / "model.onnx")))
    audio = with_tone(with_tone(quiet(6.0), 1.5), 4.0)
    found = [e.time_s for e in detector.feed(audio) + detector.finish() if e.kind == "detection"]
    assert len(found) == 2 and 1.5 < found[0] < 1.6 and 4.0 < found[1] < 4.1


def test_an_unchanged_bundle_is_304_and_a_changed_one_has_a_new_etag(
    client: TestClient, settings: Settings, kitchen: dict
) -> None:
    deploy(client, "hall", trained_job(settings, dataset=kitchen))
    etag = client.get("/deployments/hall/bundle").headers["etag"]

    unchanged = client.get("/deployments/hall/bundle", headers={"If-None-Match": etag})
    client.patch("/deployments/hall", json={"threshold": 0.42})
    changed = client.get("/deployments/hall/bundle", headers={"If-None-Match": etag})

    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert (changed.json()["version"], changed.json()["threshold"]) == (2, 0.42)


def test_models_are_served_by_sha256_for_every_version_of_the_deployment_only(
    client: TestClient, settings: Settings, kitchen: dict
) -> None:
    first, second, elsewhere = (trained_job(settings, dataset=kitchen) for _ in range(3))
    deploy(client, "hall", first)
    deploy(client, "attic", elsewhere)
    old_url = client.get("/deployments/hall/bundle").json()["model"]["url"]
    client.put("/deployments/hall", json={"job_id": second, "precision": "int8"})
    new_url = client.get("/deployments/hall/bundle").json()["model"]["url"]

    old, new = client.get(old_url), client.get(new_url)
    foreign = client.get(f"/deployments/hall/models/{sha256(model_bytes(settings, elsewhere))}")

    # A device that read the manifest just before the promote still gets the file it was told about.
    assert old.status_code == 200 and old.content == model_bytes(settings, first)
    assert new.status_code == 200 and new.content == model_bytes(settings, second, "int8")
    assert new.headers["content-type"] == "application/octet-stream"
    assert new.headers["etag"] == f'"{sha256(new.content)}"'
    assert foreign.status_code == 404
    assert client.get("/deployments/hall/models/not-a-sha").status_code == 422
    assert client.get(f"/deployments/nope/models/{'0' * 64}").status_code == 404
