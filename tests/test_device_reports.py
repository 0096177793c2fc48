"""What devices report: detections and near misses counted, their audio (with consent) kept as clips to review,
and unreviewed clips never trained on until a person gives a verdict."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from shared.db.models import Job
from shared.settings import Settings
from tests.audio_factory import wav_bytes
from tests.conftest import add_clips, create_dataset
from tests.job_factory import model_bytes, trained_job


@pytest.fixture
def home(client: TestClient, settings: Settings) -> dict[str, Any]:
    """Dataset "home", deployed as "hall"; device "kitchen-pi" sends audio (consent on), "attic-pi" does not."""
    dataset = create_dataset(client, "home", wake_phrase="hey home")
    job = trained_job(settings, dataset=dataset)
    assert client.post("/deployments", json={"name": "hall", "job_id": job}).status_code == 201
    devices = {}
    for name, consent in (("kitchen-pi", True), ("attic-pi", False)):
        created = client.post("/devices", json={"name": name, "deployment": "hall", "report_audio": consent})
        devices[name] = created.json()
    return {"job": job, "sha256": hashlib.sha256(model_bytes(settings, job)).hexdigest(), "devices": devices}


def report(
    client: TestClient,
    home: dict[str, Any],
    device: str = "kitchen-pi",
    *,
    audio: bytes | None = None,
    **fields: str,
) -> Any:
    data = {
        "kind": "detection",
        "score": "0.93",
        "threshold": "0.8",
        "at": "2026-12-05T14:03:07Z",
        "model_sha256": home["sha256"],
        "version": "1",
        **fields,
    }
    files = {"audio": ("window.wav", audio, "audio/wav")} if audio is not None else None
    headers = {"Authorization": f"Bearer {home['devices'][device]['token']}"}
    return client.post("/devices/self/reports", data=data, files=files, headers=headers)


def device(client: TestClient, home: dict[str, Any], name: str = "kitchen-pi") -> dict[str, Any]:
    return client.get(f"/devices/{home['devices'][name]['id']}").json()


def clip(client: TestClient, clip_id: str) -> dict[str, Any]:
    return client.get(f"/datasets/home/recordings/{clip_id}").json()


def test_a_detection_without_audio_is_counted(client: TestClient, home: dict) -> None:
    response = report(client, home)

    assert response.status_code == 201, response.text
    assert response.json() == {"counted": True, "clip_id": None}
    counted = device(client, home)
    assert (counted["detections"], counted["near_misses"], counted["detections_last_24h"]) == (1, 0, 1)
    assert counted["last_seen_at"] is not None
    assert client.get("/datasets/home").json()["unreviewed_clips"] == 0


def test_a_detection_with_audio_and_consent_becomes_an_unreviewed_clip_of_the_deployments_dataset(
    client: TestClient, home: dict
) -> None:
    response = report(client, home, audio=wav_bytes(2.0, seed=1))

    assert response.status_code == 201, response.text
    stored = clip(client, response.json()["clip_id"])
    assert (stored["source"], stored["speaker"], stored["label"]) == ("device", "kitchen-pi", "positive")
    assert stored["review"] == "unreviewed"
    assert stored["notes"] == f"detection by kitchen-pi at score 0.93 (threshold 0.80, model v1 {home['sha256'][:8]})"
    dataset = client.get("/datasets/home").json()
    assert dataset["unreviewed_clips"] == 1
    assert dataset["clip_counts"] == {"positive": 0, "negative": 0, "noise": 0}
    assert dataset["training"]["positive_clips"] == 0
    unreviewed = client.get("/datasets/home/recordings", params={"review": "unreviewed"}).json()
    assert [c["id"] for c in unreviewed["items"]] == [stored["id"]]
    assert client.get("/datasets/home/recordings", params={"review": "reviewed"}).json()["total"] == 0
    assert client.get("/datasets/home/recordings", params={"review": "maybe"}).status_code == 422
    with client.websocket_connect("/ws/events?dataset=home&after=0") as socket:
        types = [socket.receive_json()["type"] for _ in range(3)]
    assert types == ["dataset.created", "deployment.updated", "dataset.clip_added"]


def test_a_near_miss_with_audio_is_a_negative_guess(client: TestClient, home: dict) -> None:
    response = report(client, home, audio=wav_bytes(2.0, seed=2), kind="near_miss", score="0.61")

    stored = clip(client, response.json()["clip_id"])
    assert (stored["label"], stored["review"]) == ("negative", "unreviewed")
    assert stored["notes"].startswith("near miss by kitchen-pi at score 0.61 (threshold 0.80")
    assert (device(client, home)["detections"], device(client, home)["near_misses"]) == (0, 1)


def test_audio_from_a_device_without_consent_is_dropped_unread(client: TestClient, home: dict) -> None:
    kept_out = report(client, home, "attic-pi", audio=wav_bytes(2.0, seed=3))
    not_even_audio = report(client, home, "attic-pi", audio=b"not a wav at all")

    assert kept_out.status_code == not_even_audio.status_code == 201
    assert kept_out.json() == not_even_audio.json() == {"counted": True, "clip_id": None}
    assert client.get("/datasets/home/recordings", params={"deleted": "all"}).json()["total"] == 0
    assert device(client, home, "attic-pi")["detections"] == 2


def test_the_same_audio_twice_is_the_same_clip(client: TestClient, home: dict) -> None:
    audio = wav_bytes(2.0, seed=4)
    first, second = report(client, home, audio=audio), report(client, home, audio=audio)

    assert first.status_code == second.status_code == 201
    assert first.json()["clip_id"] == second.json()["clip_id"]
    assert client.get("/datasets/home").json()["unreviewed_clips"] == 1
    assert device(client, home)["detections"] == 2


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        ({"kind": "wake"}, 422, "kind"),
        ({"score": "high"}, 422, "score"),
        ({"score": "1.5"}, 422, "score"),
        ({"threshold": "nan"}, 422, "threshold"),
        ({"at": "yesterday"}, 422, "at"),
        ({"model_sha256": "abc"}, 422, "model_sha256"),
        ({"version": "-1"}, 422, "version"),
        ({"version": "²"}, 422, "version"),
        ({"version": ""}, 422, "version"),
        ({"colour": "red"}, 422, "colour"),
        ({"audio": wav_bytes(6.0, seed=5)}, 422, "5"),
        ({"audio": b"not a wav at all"}, 415, "file 1"),
    ],
    ids=[
        "bad_kind",
        "score_not_a_number",
        "score_over_1",
        "threshold_nan",
        "bad_time",
        "bad_sha",
        "negative_version",
        "superscript_version",
        "missing_version",
        "unknown_field",
        "audio_over_5_s",
        "not_audio",
    ],
)
def test_a_bad_report_is_refused_and_counts_nothing(
    client: TestClient, home: dict, change: dict, status: int, named: str
) -> None:
    fields = {key: value for key, value in change.items() if key != "audio"}
    response = report(client, home, audio=change.get("audio"), **fields)

    assert response.status_code == status, response.text
    assert named in response.json()["detail"]
    assert device(client, home)["detections"] == 0
    assert client.get("/datasets/home/recordings", params={"deleted": "all"}).json()["total"] == 0


def test_a_report_that_is_not_multipart_is_415(client: TestClient, home: dict) -> None:
    headers = {"Authorization": f"Bearer {home['devices']['kitchen-pi']['token']}"}
    response = client.post("/devices/self/reports", json={"kind": "detection"}, headers=headers)
    assert response.status_code == 415


def test_near_misses_over_30_an_hour_are_429_with_retry_after_and_detections_go_on(
    client: TestClient, home: dict
) -> None:
    for _ in range(30):
        assert report(client, home, kind="near_miss", score="0.6").status_code == 201

    refused = report(client, home, kind="near_miss", score="0.6")
    detection = report(client, home)

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert "WAKE_TRAINING_DEVICE_NEAR_MISSES_PER_HOUR" in refused.json()["detail"]
    assert detection.status_code == 201
    counted = device(client, home)
    assert (counted["near_misses"], counted["detections"]) == (30, 1)
    # Another device has its own allowance.
    assert report(client, home, "attic-pi", kind="near_miss", score="0.6").status_code == 201


def test_a_verdict_labels_an_unreviewed_clip_or_discards_it(client: TestClient, home: dict) -> None:
    heard = report(client, home, audio=wav_bytes(2.0, seed=6)).json()["clip_id"]
    misheard = report(client, home, audio=wav_bytes(2.0, seed=7)).json()["clip_id"]
    noise = report(client, home, audio=wav_bytes(2.0, seed=8)).json()["clip_id"]

    positive = client.post(f"/datasets/home/recordings/{heard}/review", json={"verdict": "positive"})
    negative = client.post(f"/datasets/home/recordings/{misheard}/review", json={"verdict": "negative"})
    discarded = client.post(f"/datasets/home/recordings/{noise}/review", json={"verdict": "discard"})

    assert positive.status_code == negative.status_code == discarded.status_code == 200
    assert (positive.json()["label"], positive.json()["review"]) == ("positive", None)
    assert (negative.json()["label"], negative.json()["review"]) == ("negative", None)
    assert discarded.json()["deleted"] is True
    dataset = client.get("/datasets/home").json()
    assert dataset["clip_counts"] == {"positive": 1, "negative": 1, "noise": 0}
    assert (dataset["unreviewed_clips"], dataset["deleted_clips"]) == (0, 1)
    again = client.post(f"/datasets/home/recordings/{heard}/review", json={"verdict": "negative"})
    assert again.status_code == 409
    assert clip(client, heard)["label"] == "positive"


def test_review_requests_that_make_no_sense_are_4xx(client: TestClient, home: dict) -> None:
    (uploaded,) = add_clips(client, "home", 1)
    pending = report(client, home, audio=wav_bytes(2.0, seed=9)).json()["clip_id"]

    def review(clip_id: str, body: Any) -> int:
        return client.post(f"/datasets/home/recordings/{clip_id}/review", json=body).status_code

    assert review(uploaded["id"], {"verdict": "positive"}) == 409
    assert review(pending, {"verdict": "maybe"}) == 422
    assert review(pending, {}) == 422
    assert review(str(uuid.uuid4()), {"verdict": "positive"}) == 404
    assert review("not-a-uuid", {"verdict": "positive"}) == 422
    assert clip(client, pending)["review"] == "unreviewed"


class HeldDispatcher:
    """A broker that keeps jobs queued: the test reads their snapshots, nothing trains."""

    async def enqueue(self, job_id: uuid.UUID, attempt: int) -> None:
        pass


@pytest.fixture
def held(client: TestClient) -> Iterator[None]:
    state = client.app.state
    real, state.dispatcher = state.dispatcher, HeldDispatcher()
    yield
    state.dispatcher = real


def snapshot(client: TestClient, job_id: str) -> set[str]:
    async def read() -> list[dict]:
        async with client.app.state.session_factory() as session:
            return await session.scalar(select(Job.clips).where(Job.id == uuid.UUID(job_id)))

    return {c["id"] for c in client.blocking_portal.call(read)}


def test_unreviewed_clips_are_never_trained_on_nor_counted_toward_readiness(
    client: TestClient, home: dict, held: None
) -> None:
    add_clips(client, "home", 9, label="positive", seed=100)
    add_clips(client, "home", 10, label="negative", seed=200)
    pending = report(client, home, audio=wav_bytes(2.0, seed=10)).json()["clip_id"]

    too_few = client.post("/train", json={"dataset": "home"})
    assert too_few.status_code == 422
    assert too_few.json()["positive_clips"] == 9
    assert client.get("/datasets/home").json()["training"]["ready"] is False

    add_clips(client, "home", 1, label="positive", seed=300)
    job = client.post("/train", json={"dataset": "home"})
    assert job.status_code == 202, job.text
    assert job.json()["clip_count"] == 20
    assert pending not in snapshot(client, job.json()["id"])

    client.post(f"/datasets/home/recordings/{pending}/review", json={"verdict": "positive"})
    after_review = client.post("/train", json={"dataset": "home"}).json()
    assert after_review["clip_count"] == 21
    assert pending in snapshot(client, after_review["id"])
