"""Training jobs over HTTP: what POST /train refuses, and the job endpoints' errors (no training needed)."""

from __future__ import annotations

import uuid

import pytest
from litestar.testing import TestClient

from api.app import create_app
from shared.settings import Settings
from tests.conftest import add_clips, create_dataset, wait_for_job


@pytest.fixture
def ready(client: TestClient) -> str:
    create_dataset(client, "kitchen")
    add_clips(client, "kitchen", 10, label="positive")
    add_clips(client, "kitchen", 6, label="negative", seed=100)
    add_clips(client, "kitchen", 4, label="noise", seed=200)
    return "kitchen"


def test_training_an_unknown_dataset_is_404(client: TestClient) -> None:
    response = client.post("/train", json={"dataset": "nope"})
    assert response.status_code == 404
    assert client.get("/jobs").json()["total"] == 0


def test_training_with_too_few_clips_is_422_with_the_counts(client: TestClient) -> None:
    create_dataset(client, "kitchen")
    add_clips(client, "kitchen", 9, label="positive")
    add_clips(client, "kitchen", 12, label="noise", seed=100)

    response = client.post("/train", json={"dataset": "kitchen"})

    assert response.status_code == 422
    body = response.json()
    assert "9 positive and 12 negative+noise" in body["detail"]
    assert (body["positive_clips"], body["negative_clips"]) == (9, 12)
    assert client.get("/jobs").json()["total"] == 0


@pytest.mark.parametrize(
    ("request_body", "named"),
    [
        ({"config_overrides": {"epochz": 3}}, "'epochz'"),
        ({"config_overrides": {"epochs": 0}}, "epochs"),
        ({"config_overrides": {"learning_rate": "fast"}}, "learning_rate"),
        ({"preset": "huge"}, "'huge'"),
        # Each is within its own field's range; together they would take GBs of memory or days.
        ({"config_overrides": {"window_s": 3.0, "batch_size": 1024}}, "WAKE_TRAINING_MAX_BATCH_AUDIO_S"),
        ({"config_overrides": {"epochs": 500, "steps_per_epoch": 100_000}}, "WAKE_TRAINING_MAX_TRAINING_AUDIO_H"),
    ],
    ids=["unknown_key", "out_of_range", "wrong_type", "unknown_preset", "huge_batches", "endless_training"],
)
def test_bad_overrides_are_422_naming_the_key(client: TestClient, ready: str, request_body: dict, named: str) -> None:
    response = client.post("/train", json={"dataset": ready, **request_body})

    assert response.status_code == 422
    assert named in response.json()["detail"]
    assert client.get("/jobs").json()["total"] == 0


def test_unknown_fields_in_the_train_request_are_422(client: TestClient, ready: str) -> None:
    response = client.post("/train", json={"dataset": ready, "epochs": 3})
    assert response.status_code == 422
    assert "epochs" in response.json()["detail"]


def test_job_endpoints_answer_404_for_an_unknown_job_and_422_for_a_bad_id(client: TestClient) -> None:
    missing = uuid.uuid4()
    for path in ("", "/logs", "/events", "/artifacts/model.onnx"):
        assert client.get(f"/jobs/{missing}{path}").status_code == 404, path
        assert client.get(f"/jobs/not-a-uuid{path}").status_code == 422, path
    assert client.post(f"/jobs/{missing}/cancel").status_code == 404
    assert client.post("/jobs/not-a-uuid/cancel").status_code == 422


def test_job_listing_refuses_unknown_status_and_bad_paging(client: TestClient) -> None:
    assert client.get("/jobs", params={"status": "done"}).status_code == 422
    assert client.get("/jobs", params={"limit": 0}).status_code == 422
    assert client.get("/jobs", params={"dataset": "../x"}).status_code == 422


def test_synthesizing_into_an_unknown_dataset_is_404_and_bad_requests_are_422(client: TestClient) -> None:
    assert client.post("/datasets/nope/synthesize", json={"phrase": "hey jarvis", "count": 5}).status_code == 404
    create_dataset(client, "kitchen")
    for body, named in (
        ({"phrase": "", "count": 5}, "phrase"),
        ({"phrase": "hey jarvis", "count": 0}, "count"),
        ({"phrase": "hey jarvis", "count": 5, "voices": 3}, "voices"),
        ({"phrase": "hey jarvis", "count": 5, "voices": []}, "voices"),
        ({"phrase": "hey jarvis", "count": 5, "accent": "en-us"}, "accent"),
        ({"phrase": "hey jarvis", "count": 5, "engines": ["bogus"]}, "engines"),
        ({"phrase": "hey jarvis", "count": 5, "engines": []}, "engines"),
        # Postgres cannot store NUL in the job's config: refused up front on both backends, not a 500 there.
        ({"phrase": "hey\u0000jarvis", "count": 5}, "phrase contains a NUL"),
        ({"phrase": "hey jarvis", "count": 5, "language": "en\u0000"}, "language contains a NUL"),
        ({"phrase": "hey jarvis", "count": 5, "voices": ["en-us", "en\u0000"]}, "voices contains a NUL"),
        # Within each count's range, but 15,500 clips would hold the worker's memory.
        ({"phrase": "hey jarvis", "count": 5000}, "make 15500 clips; one synthesize job makes at most 6000"),
    ):
        response = client.post("/datasets/kitchen/synthesize", json=body)
        assert response.status_code == 422, body
        assert named in response.json()["detail"]
    assert client.get("/jobs").json()["total"] == 0


def test_resuming_after_a_sequence_number_no_database_can_hold_is_422(client: TestClient) -> None:
    """2^63 and above overflowed the databases' integers after the stream had started (a 200, then an abort)."""
    create_dataset(client, "kitchen")
    job = client.post("/datasets/kitchen/synthesize", json={"phrase": "hey jarvis", "count": 1})
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    too_big = str(2**63)
    for response in (
        client.get("/events", params={"after": too_big}),
        client.get("/events", headers={"Last-Event-ID": too_big}),
        client.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": str(2**64)}),
        client.get("/events", headers={"Last-Event-ID": "-1"}),
    ):
        assert response.status_code == 422, response.text
        assert "event sequence number from 0 to 9223372036854775807" in response.json()["detail"]
    logs = client.get(f"/jobs/{job_id}/logs", params={"after": too_big})
    assert logs.status_code == 422 and "after" in logs.json()["detail"]
    with client.websocket_connect(f"/ws/events?after={too_big}") as socket:
        message = socket.receive_json()
    assert message["type"] == "error" and "from 0 to 9223372036854775807" in message["detail"]
    # The largest storable number is a valid resume point: nothing after it yet, so the log page is empty.
    assert client.get(f"/jobs/{job_id}/logs", params={"after": str(2**63 - 1)}).json()["items"] == []


# A language or voice the engines lack is refused before a job exists, naming what there is.
UNSPEAKABLE = [
    ({"language": "xx-nope"}, ("espeak-ng has no voice for language 'xx-nope'", "available: af,", "en-us")),
    ({"language": "nl", "engines": ["pico"]}, ("pico has no voice for language 'nl'", "voices: de-DE, en-GB")),
    ({"voices": ["en-us", "en-mars"]}, ("no 'en' voice 'en-mars'", "available: en, en-029")),
    ({"language": "en-us", "voices": ["en-gb-x-rp"]}, ("no 'en-us' voice 'en-gb-x-rp'", "available: en-us")),
    ({"voices": ["pico:en-AU"]}, ("pico has no 'en' voice 'pico:en-AU'", "available: pico:en-GB, pico:en-US")),
    ({"voices": ["pico:en-US"], "engines": ["espeak"]}, ("espeak-ng has no 'en' voice 'pico:en-US'",)),
]


@pytest.mark.parametrize(("fields", "named"), UNSPEAKABLE, ids=[str(f) for f, _ in UNSPEAKABLE])
def test_a_language_or_voice_the_engines_lack_is_422_naming_those_there_are_and_makes_no_job(
    client: TestClient, fields: dict, named: tuple[str, ...]
) -> None:
    create_dataset(client, "kitchen")

    response = client.post("/datasets/kitchen/synthesize", json={"phrase": "hey", "count": 2, **fields})

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    for words in (*named, "GET /synthesis/languages"):
        assert words.lower() in detail.lower(), (words, detail)
    assert client.get("/jobs").json()["total"] == 0


def test_synthesizing_without_a_phrase_speaks_the_datasets_wake_phrase(client: TestClient) -> None:
    create_dataset(client, "kitchen", wake_phrase="  hey   kitchen ")
    create_dataset(client, "garden")

    refused = client.post("/datasets/garden/synthesize", json={"count": 1})
    assert refused.status_code == 422
    assert "dataset 'garden' has no wake phrase" in refused.json()["detail"]
    assert "PATCH /datasets/garden" in refused.json()["detail"]
    assert client.get("/jobs").json()["total"] == 0

    queued = client.post("/datasets/kitchen/synthesize", json={"count": 1, "negatives": 0, "noise": 0})
    assert queued.status_code == 202, queued.text
    assert queued.json()["config"]["phrase"] == "hey kitchen"
    job = wait_for_job(client, queued.json()["id"], timeout=60)
    assert job["status"] == "succeeded", job
    [clip] = client.get("/datasets/kitchen/recordings").json()["items"]
    assert (clip["label"], clip["source"]) == ("positive", "synthetic")


def test_a_synthesize_job_speaks_with_the_engines_asked_for_and_logs_them(client: TestClient) -> None:
    create_dataset(client, "kitchen")
    body = {"phrase": "hey jarvis", "count": 2, "negatives": 2, "noise": 0, "engines": ["pico"]}
    job = wait_for_job(client, client.post("/datasets/kitchen/synthesize", json=body).json()["id"], timeout=60)

    assert job["status"] == "succeeded", job
    assert job["config"]["engines"] == ["pico"]
    clips = client.get("/datasets/kitchen/recordings").json()["items"]
    assert len(clips) == 4 and all(c["speaker"].startswith("pico:en-") for c in clips)
    logs = [entry["message"] for entry in client.get(f"/jobs/{job['id']}/logs").json()["items"]]
    assert "engines: pico (4 clips)" in logs
    # What the job page shows: clips added by label and by voice, and a few of them to play.
    metrics = job["metrics"]
    assert metrics["clips_added"] == 4 and metrics["added_by_label"] == {"positive": 2, "negative": 2}
    assert sum(metrics["voices"].values()) == 4 and all(v.startswith("pico:en-") for v in metrics["voices"])
    by_id = {c["id"]: c for c in clips}
    assert [s["label"] for s in metrics["samples"]] == ["positive", "positive", "negative", "negative"]
    assert all(by_id[s["id"]]["label"] == s["label"] for s in metrics["samples"])


def test_a_job_past_its_time_limit_stops_and_fails_saying_so(settings: Settings) -> None:
    """The embedded worker has no Celery time limit of its own: the job's watch keeps WAKE_TRAINING_JOB_TIME_LIMIT_S."""
    with TestClient(app=create_app(settings.model_copy(update={"job_time_limit_s": 1.0}))) as client:
        create_dataset(client, "kitchen")
        add_clips(client, "kitchen", 10, label="positive")
        add_clips(client, "kitchen", 10, label="negative", seed=100)
        overrides = {"epochs": 100, "steps_per_epoch": 100, "background_speech_s": 0}
        queued = client.post("/train", json={"dataset": "kitchen", "preset": "tiny", "config_overrides": overrides})
        job = wait_for_job(client, queued.json()["id"], timeout=120)

    assert job["status"] == "failed"
    assert job["error"] == "the job ran past its time limit of 1 s (WAKE_TRAINING_JOB_TIME_LIMIT_S)"
    assert job["artifacts"] == []
