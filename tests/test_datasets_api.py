"""Datasets: create, list, read, update, delete, metrics; CORS, auth and the OpenAPI schema."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from api.app import create_app
from shared.settings import Settings
from tests.conftest import add_clips, create_dataset


def test_created_dataset_is_listed_and_readable_with_zero_counts(client: TestClient) -> None:
    created = create_dataset(client, "kitchen", description="hey jarvis in the kitchen", wake_phrase="hey jarvis")

    assert created["name"] == "kitchen"
    assert created["wake_phrase"] == "hey jarvis"
    assert created["clip_counts"] == {"positive": 0, "negative": 0, "noise": 0}
    assert created["training"]["ready"] is False
    assert [d["name"] for d in client.get("/datasets").json()] == ["kitchen"]
    assert client.get("/datasets/kitchen").json() == created


def test_datasets_are_listed_by_name_with_their_clip_counts(client: TestClient) -> None:
    create_dataset(client, "zeta")
    create_dataset(client, "alpha")
    add_clips(client, "zeta", 2, label="positive")
    add_clips(client, "zeta", 1, label="noise", seed=10)

    listed = client.get("/datasets").json()

    assert [d["name"] for d in listed] == ["alpha", "zeta"]
    assert listed[1]["clip_counts"] == {"positive": 2, "negative": 0, "noise": 1}
    assert listed[1]["total_seconds"] == 3.0


def test_creating_an_existing_name_is_409_and_keeps_the_first(client: TestClient) -> None:
    first = create_dataset(client, "kitchen", description="first")

    response = client.post("/datasets", json={"name": "kitchen", "description": "second"})

    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]
    assert client.get("/datasets/kitchen").json() == first


def test_unknown_dataset_is_404_with_a_hint(client: TestClient) -> None:
    response = client.get("/datasets/nope")
    assert response.status_code == 404
    assert "POST /datasets" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "description", "wake_phrase"),
    [
        ({"description": "  the back kitchen  "}, "the back kitchen", "hey jarvis"),
        ({"wake_phrase": "ok kitchen"}, "first", "ok kitchen"),
        ({"description": None, "wake_phrase": "ok kitchen"}, None, "ok kitchen"),
        ({"wake_phrase": "   "}, "first", None),
    ],
    ids=["description_stripped", "wake_phrase_alone", "null_clears", "blank_clears"],
)
def test_patching_a_dataset_changes_only_the_fields_given_and_is_an_event(
    client: TestClient, body: dict, description: str | None, wake_phrase: str | None
) -> None:
    created = create_dataset(client, "kitchen", description="first", wake_phrase="hey jarvis")
    add_clips(client, "kitchen", 1)

    response = client.patch("/datasets/kitchen", json=body)

    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["description"], updated["wake_phrase"]) == (description, wake_phrase)
    assert updated["updated_at"] > created["updated_at"]
    assert updated["clip_counts"]["positive"] == 1
    assert client.get("/datasets/kitchen").json() == updated
    with client.websocket_connect("/ws/events?dataset=kitchen&after=0") as socket:
        events = [socket.receive_json() for _ in range(3)]
    assert [e["type"] for e in events] == ["dataset.created", "dataset.clip_added", "dataset.updated"]
    assert events[2]["payload"]["dataset"] == updated


def test_patching_an_unknown_or_deleted_dataset_is_404(client: TestClient) -> None:
    create_dataset(client, "kitchen")
    assert client.delete("/datasets/kitchen").status_code == 204

    for name in ("kitchen", "nope"):
        response = client.patch(f"/datasets/{name}", json={"description": "x"})
        assert response.status_code == 404
        assert f"dataset {name!r} does not exist" in response.json()["detail"]
    assert client.get("/datasets").json() == []


def test_deleting_an_empty_dataset_removes_it_and_its_folder(client: TestClient, settings: Settings) -> None:
    create_dataset(client, "kitchen")
    assert (settings.data_dir / "datasets" / "kitchen").is_dir()

    assert client.delete("/datasets/kitchen").status_code == 204

    assert client.get("/datasets/kitchen").status_code == 404
    assert not (settings.data_dir / "datasets" / "kitchen").exists()


def test_deleting_a_dataset_with_clips_needs_force(client: TestClient, settings: Settings) -> None:
    create_dataset(client, "kitchen")
    add_clips(client, "kitchen", 2)

    refused = client.delete("/datasets/kitchen")
    assert refused.status_code == 409
    assert "force=true" in refused.json()["detail"]
    assert client.get("/datasets/kitchen").json()["clip_counts"]["positive"] == 2

    assert client.delete("/datasets/kitchen", params={"force": "true"}).status_code == 204
    assert client.get("/datasets/kitchen").status_code == 404
    assert not (settings.data_dir / "datasets" / "kitchen").exists()


def test_a_recreated_dataset_starts_empty(client: TestClient) -> None:
    create_dataset(client, "kitchen")
    add_clips(client, "kitchen", 2)
    client.delete("/datasets/kitchen", params={"force": "true"})

    again = create_dataset(client, "kitchen")

    assert again["clip_counts"] == {"positive": 0, "negative": 0, "noise": 0}
    assert client.get("/datasets/kitchen/recordings", params={"deleted": "all"}).json()["total"] == 0
    # The same audio is no duplicate of a clip that went with the old dataset.
    add_clips(client, "kitchen", 2)


def test_metrics_count_active_clips_and_seconds_by_label_and_by_speaker(client: TestClient) -> None:
    create_dataset(client, "kitchen")
    alice = add_clips(client, "kitchen", 3, label="positive", speaker="alice")
    add_clips(client, "kitchen", 2, label="negative", speaker="bob", seed=100)
    add_clips(client, "kitchen", 1, label="noise", seed=200)
    client.delete(f"/datasets/kitchen/recordings/{alice[0]['id']}")

    metrics = client.get("/datasets/kitchen/metrics").json()

    assert metrics["total"] == {"clips": 5, "seconds": 5.0}
    assert metrics["by_label"] == {
        "positive": {"clips": 2, "seconds": 2.0},
        "negative": {"clips": 2, "seconds": 2.0},
        "noise": {"clips": 1, "seconds": 1.0},
    }
    assert metrics["deleted"] == {"clips": 1, "seconds": 1.0}
    speakers = {s["speaker"]: s for s in metrics["by_speaker"]}
    assert set(speakers) == {"alice", "bob", None}
    assert speakers["alice"]["clips"] == 2
    assert speakers["alice"]["by_label"] == {"positive": {"clips": 2, "seconds": 2.0}}
    assert speakers["bob"]["seconds"] == 2.0
    assert speakers[None]["by_label"] == {"noise": {"clips": 1, "seconds": 1.0}}


def test_readiness_says_what_is_missing_until_the_minimums_are_met(client: TestClient) -> None:
    create_dataset(client, "kitchen")
    add_clips(client, "kitchen", 10, label="positive")
    add_clips(client, "kitchen", 6, label="negative", seed=100)

    training = client.get("/datasets/kitchen/metrics").json()["training"]
    assert training["ready"] is False
    assert training["missing"] == ["4 more negative or noise clips"]

    add_clips(client, "kitchen", 4, label="noise", seed=200)
    training = client.get("/datasets/kitchen").json()["training"]
    assert training == {
        "ready": True,
        "positive_clips": 10,
        "negative_clips": 10,
        "min_positive_clips": 10,
        "min_negative_clips": 10,
        "missing": [],
    }


def test_cors_allows_the_configured_origins_only(settings: Settings) -> None:
    configured = settings.model_copy(update={"cors_origins": ["http://console.example:5173"]})
    with TestClient(app=create_app(configured)) as client:
        allowed = client.options(
            "/datasets",
            headers={"Origin": "http://console.example:5173", "Access-Control-Request-Method": "POST"},
        )
        refused = client.get("/datasets", headers={"Origin": "http://evil.example"})

    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == "http://console.example:5173"
    assert "access-control-allow-origin" not in refused.headers


def test_api_token_is_required_when_configured_but_not_for_health(settings: Settings) -> None:
    guarded = settings.model_copy(update={"api_token": "s3cret"})
    with TestClient(app=create_app(guarded)) as client:
        anonymous = client.get("/datasets")
        wrong = client.get("/datasets", headers={"Authorization": "Bearer nope"})
        right = client.get("/datasets", headers={"Authorization": "Bearer s3cret"})
        by_query = client.get("/datasets", params={"access_token": "s3cret"})
        health = client.get("/health")

    assert anonymous.status_code == 401
    assert "WAKE_TRAINING_API_TOKEN" in anonymous.json()["detail"]
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert by_query.status_code == 200
    assert health.status_code == 200


def test_openapi_schema_lists_every_endpoint(client: TestClient) -> None:
    schema = client.get("/schema/openapi.json").json()

    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/datasets"])
    assert {"get", "delete"} <= set(paths["/datasets/{name}"])
    assert "get" in paths["/datasets/{name}/metrics"]
    assert {"get", "post"} <= set(paths["/datasets/{name}/recordings"])
    assert {"get", "patch", "delete"} <= set(paths["/datasets/{name}/recordings/{clip_id}"])
    assert "get" in paths["/datasets/{name}/recordings/{clip_id}/audio"]
    assert "post" in paths["/datasets/{name}/recordings/{clip_id}/restore"]
    assert "get" in paths["/health"]


def test_a_dataset_whose_own_recordings_are_all_positive_and_negatives_all_synthetic_says_so(
    client: TestClient,
) -> None:
    create_dataset(client, "shortcut")
    add_clips(client, "shortcut", 3, label="positive", source="recording", speaker="ana")
    add_clips(client, "shortcut", 3, label="negative", seed=100, source="synthetic")
    [warning] = client.get("/datasets/shortcut").json()["warnings"]
    assert "your 3 recordings are all positive" in warning and "label negative" in warning

    # Their voice saying other things puts it on both sides: nothing left to warn about.
    add_clips(client, "shortcut", 1, label="negative", seed=200, source="recording", speaker="ana")
    assert client.get("/datasets/shortcut").json()["warnings"] == []
    assert next(d for d in client.get("/datasets").json() if d["name"] == "shortcut")["warnings"] == []
