"""Evaluating a finished model on any dataset: `POST /jobs/{id}/evaluate` and `GET /jobs/{id}/evaluations`.

The model is the loudness stand-in of test_detect (it fires on a loud window), stored as a succeeded train job's
export: the figures it must give on a dataset of loud and quiet clips are known exactly.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from litestar.testing import TestClient

from shared.db.base import utcnow
from shared.db.models import Job
from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.settings import Settings
from shared.storage import Storage
from tests.audio_factory import encode
from tests.conftest import create_dataset, upload, wait_for_job
from tests.sse import collect
from tests.test_detect import loudness_model

RATE = 16_000


def model_job(settings: Settings, *, status: str = "succeeded", kind: str = "train", threshold: float = 0.5) -> str:
    """A train job row as a worker leaves it, with the stand-in model (a 0.5 s window) as its export."""
    job_id = uuid.uuid4()
    has_model = status == "succeeded" and kind == "train"
    if has_model:
        loudness_model(Storage(settings.data_dir).job_export_dir(job_id) / "model.onnx")
    engine = create_sync_db_engine(settings.database_url)
    with sync_session_factory(engine)() as session:
        session.add(
            Job(
                id=job_id,
                dataset_name="home",
                kind=kind,
                status=status,
                config={},
                clips=[],
                snapshot_sha256="0" * 64,
                attempts=1,
                metrics={"threshold": threshold} if has_model else {},
                artifacts=[{"name": "model.onnx", "size": 1, "sha256": "0" * 64}] if has_model else [],
                finished_at=utcnow() if status != "queued" else None,
            )
        )
        session.commit()
    engine.dispose()
    return str(job_id)


def clip(seconds: float, level: float, seed: int) -> bytes:
    """Noise at an RMS of about `level`: 0.5 wakes the stand-in model, 0.01 does not."""
    audio = level * np.random.default_rng(seed).standard_normal(round(seconds * RATE))
    return encode(np.clip(audio, -1, 1).astype(np.float32), RATE)


def add(client: TestClient, dataset: str, label: str, clips: list[bytes], **fields: str) -> None:
    files = [(f"{label}-{i}.wav", blob) for i, blob in enumerate(clips)]
    response = upload(client, dataset, files, label=label, **fields)
    assert response.status_code == 201, response.text


@pytest.fixture
def test_set(client: TestClient) -> str:
    """Ana's 2 takes are loud (heard); of Ben's 2, one is loud and one whispered (missed). 60 s of quiet negatives
    hold one loud 0.6 s burst at 50 s: one false accept."""
    create_dataset(client, "living-room")
    add(client, "living-room", "positive", [clip(1.0, 0.5, 1), clip(1.0, 0.5, 2)], speaker="ana", source="recording")
    add(client, "living-room", "positive", [clip(1.0, 0.5, 3), clip(1.0, 0.01, 4)], speaker="ben", source="recording")
    add(client, "living-room", "negative", [clip(10.0, 0.01, 10 + i) for i in range(5)])
    add(client, "living-room", "negative", [clip(0.6, 0.5, 20)])
    add(client, "living-room", "noise", [clip(9.4, 0.01, 30)])
    return "living-room"


def test_an_evaluation_scores_the_model_on_the_test_set_and_stores_its_figures(
    client: TestClient, settings: Settings, test_set: str
) -> None:
    model = model_job(settings)
    queued = client.post(f"/jobs/{model}/evaluate", json={"dataset": test_set})
    assert queued.status_code == 202, queued.text
    evaluation = queued.json()
    assert evaluation["kind"] == "evaluate" and evaluation["dataset"] == test_set
    assert evaluation["config"]["model_job"] == model and evaluation["config"]["threshold"] == 0.5

    done = wait_for_job(client, evaluation["id"], timeout=60)
    assert done["status"] == "succeeded", done
    figures = done["metrics"]
    assert (figures["positives"], figures["detected"], figures["frr"]) == (4, 3, 0.25)
    assert figures["per_speaker"] == {"ana": {"clips": 2, "recall": 1.0}, "ben": {"clips": 2, "recall": 0.5}}
    assert figures["negative_s"] == pytest.approx(60.0)
    assert figures["false_accepts"] == 1
    assert figures["fa_per_hour"] == pytest.approx(60.0) == figures["fa_per_hour_resolution"]
    played = (figures["threshold"], figures["hop_s"], figures["refractory_s"], figures["window_s"])
    assert played == (0.5, 0.1, 1.0, 0.5)

    stored = json.loads(client.get(f"/jobs/{evaluation['id']}/artifacts/evaluation.json").content)
    assert stored["false_accepts"] == 1 and len(stored["clip_scores"]) == 4
    curve = stored["curve"]
    assert [p["fa_per_hour"] for p in curve] == sorted((p["fa_per_hour"] for p in curve), reverse=True)
    assert 50.0 <= stored["false_accept_times_s"][0] <= 50.7  # the burst, played after the five 10-s clips

    listed = client.get(f"/jobs/{model}/evaluations").json()
    assert [item["id"] for item in listed["items"]] == [evaluation["id"]] and listed["total"] == 1
    events = collect(client, evaluation["events_url"], until=lambda seen: seen[-1].type == "job.succeeded", timeout=10)
    types = [e.type for e in events if e.type in ("job.queued", "job.started", "job.succeeded")]
    assert types == ["job.queued", "job.started", "job.succeeded"]


@dataclass(frozen=True)
class Refusal:
    id: str
    call: Callable[[TestClient, Settings, str], object]
    status: int
    says: str


def evaluate_with(model: Callable[[Settings], str], body: object) -> Callable[[TestClient, Settings, str], object]:
    return lambda client, settings, dataset: client.post(
        f"/jobs/{model(settings)}/evaluate", json=body if body is not None else {"dataset": dataset}
    )


REFUSALS = [
    Refusal("unknown_job_is_404", evaluate_with(lambda s: str(uuid.uuid4()), None), 404, "does not exist"),
    Refusal("job_id_not_a_uuid_is_422", evaluate_with(lambda s: "not-a-uuid", None), 422, "uuid"),
    Refusal("failed_train_job_is_409", evaluate_with(lambda s: model_job(s, status="failed"), None), 409, "no model"),
    Refusal("queued_train_job_is_409", evaluate_with(lambda s: model_job(s, status="queued"), None), 409, "queued"),
    Refusal(
        "synthesize_job_is_409", evaluate_with(lambda s: model_job(s, kind="synthesize"), None), 409, "synthesize job"
    ),
    Refusal("unknown_dataset_is_404", evaluate_with(model_job, {"dataset": "garage"}), 404, "'garage' does not exist"),
    Refusal("invalid_dataset_name_is_422", evaluate_with(model_job, {"dataset": "Küche"}), 422, "invalid dataset name"),
    Refusal("nul_in_dataset_name_is_422", evaluate_with(model_job, {"dataset": "a\x00b"}), 422, "invalid dataset name"),
    Refusal("missing_dataset_field_is_422", evaluate_with(model_job, {}), 422, "dataset"),
    Refusal("unknown_field_is_422", evaluate_with(model_job, {"dataset": "x", "threshold": 0.2}), 422, "threshold"),
    Refusal(
        "dataset_without_negatives_is_422",
        evaluate_with(model_job, {"dataset": "positives-only"}),
        422,
        "1 positive and 0 negative+noise",
    ),
    Refusal(
        "list_of_an_unknown_job_is_404",
        lambda client, settings, dataset: client.get(f"/jobs/{uuid.uuid4()}/evaluations"),
        404,
        "does not exist",
    ),
    Refusal(
        "list_with_limit_0_is_422",
        lambda client, settings, dataset: client.get(f"/jobs/{model_job(settings)}/evaluations?limit=0"),
        422,
        "limit",
    ),
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=[r.id for r in REFUSALS])
def test_an_evaluation_that_cannot_run_is_refused_and_queues_nothing(
    client: TestClient, settings: Settings, refusal: Refusal
) -> None:
    create_dataset(client, "positives-only")
    add(client, "positives-only", "positive", [clip(1.0, 0.5, 1)])
    jobs_before = client.get("/jobs").json()["total"]
    response = refusal.call(client, settings, "positives-only")
    assert response.status_code == refusal.status, response.text
    assert refusal.says.lower() in response.json()["detail"].lower()
    assert not [job for job in client.get("/jobs").json()["items"] if job["kind"] == "evaluate"]
    assert client.get("/jobs").json()["total"] <= jobs_before + 1  # + the model job some cases insert


def test_an_evaluation_whose_model_is_gone_from_the_volume_fails_with_the_reason(
    client: TestClient, settings: Settings, test_set: str
) -> None:
    model = model_job(settings)
    (Storage(settings.data_dir).job_export_dir(uuid.UUID(model)) / "model.onnx").unlink()
    evaluation = client.post(f"/jobs/{model}/evaluate", json={"dataset": test_set}).json()
    done = wait_for_job(client, evaluation["id"], timeout=60)
    assert done["status"] == "failed" and "gone from the data volume" in done["error"]


def test_figures_are_those_of_the_stream_a_device_hears(tmp_path: Path) -> None:
    """Positives each count once; negatives are one stream with the refractory rule (a held burst fires once)."""
    from worker.detect import WakeWordDetector
    from worker.evaluate_job import evaluate_clips

    detector = WakeWordDetector(loudness_model(tmp_path / "model.onnx"), threshold=0.5)
    rng = np.random.default_rng(0)
    loud = (0.5 * rng.standard_normal(RATE)).astype(np.float32)
    quiet = (0.01 * rng.standard_normal(RATE * 20)).astype(np.float32)
    result = evaluate_clips(
        detector,
        [({"id": "a", "speaker": None}, loud), ({"id": "b", "speaker": None}, quiet[:RATE])],
        [quiet, np.concatenate([loud, loud[: RATE // 2]]), quiet],
    )
    assert (result["detected"], result["positives"]) == (1, 2)
    assert result["per_speaker"] == {"(no speaker)": {"clips": 2, "recall": 0.5}}
    # A burst held 1.5 s fires as it starts and once more a refractory period (1 s) later, as a device would.
    assert result["false_accepts"] == 2
