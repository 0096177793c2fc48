"""The product end to end on CPU: synthesize a dataset through the API, train through the queue, detect with ONNX."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from litestar.testing import TestClient

import migrations
from api.app import create_app
from shared.settings import Settings
from tests.conftest import wait_for_job
from worker.detect import WakeWordDetector
from worker.synth import EspeakSynthesizer, ordinary_sentences
from worker.training.streaming import window_count

pytestmark = pytest.mark.e2e


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "volume", worker_threads=1)
    settings.data_dir.mkdir(parents=True)
    migrations.upgrade(settings.resolved_database_url)
    with TestClient(app=create_app(settings)) as client:
        yield client


def test_synthesize_train_and_detect_the_phrase(embedded: TestClient, tmp_path: Path) -> None:
    client = embedded
    assert client.post("/datasets", json={"name": "jarvis", "wake_phrase": "hey jarvis"}).status_code == 201

    queued = client.post(
        "/datasets/jarvis/synthesize", json={"phrase": "hey jarvis", "count": 60, "negatives": 120, "noise": 12}
    )
    assert queued.status_code == 202, queued.text
    assert queued.json()["kind"] == "synthesize"
    synthesized = wait_for_job(client, queued.json()["id"])
    assert synthesized["status"] == "succeeded", synthesized
    dataset = client.get("/datasets/jarvis").json()
    assert dataset["clip_counts"] == {"positive": 60, "negative": 120, "noise": 12}
    sample = client.get("/datasets/jarvis/recordings", params={"limit": 1}).json()["items"][0]
    assert sample["source"] == "synthetic" and sample["speaker"].startswith("espeak:")

    trained = client.post(
        "/train",
        json={
            "dataset": "jarvis",
            "preset": "small",
            "config_overrides": {
                "epochs": 8,
                "steps_per_epoch": 20,
                "batch_size": 32,
                "learning_rate": 0.003,
                "augment": False,
            },
        },
    )
    job = wait_for_job(client, trained.json()["id"])
    assert job["status"] == "succeeded", job
    export = Path(client.app.state.settings.data_dir) / "jobs" / job["id"] / "export"
    manifest = json.loads((export / "manifest.json").read_text())
    for entry in manifest["files"]:
        assert hashlib.sha256((export / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    report = json.loads((export / "metrics.json").read_text())
    assert {"threshold", "calibration", "curve"} <= set(report)
    assert {"val_frr", "val_fa_per_hour", "threshold"} <= set(job["metrics"])
    assert job["metrics"]["parity_max_abs_diff_onnx"] <= 1e-4

    detector = WakeWordDetector(export / "model.onnx")
    voice = EspeakSynthesizer("en")
    rng = np.random.default_rng(7)
    # A voice setting the training set is unlikely to hold exactly: another rate and pitch.
    phrase = voice.speak("hey jarvis", voice="en-us", rate_wpm=190, pitch=35)
    stream = (0.003 * rng.standard_normal(16_000 * 10)).astype(np.float32)
    start = 5 * 16_000
    stream[start : start + phrase.size] += phrase
    end_s = (start + phrase.size) / 16_000
    scores = detector.scores(stream)
    hop = detector.hop_s
    # Window i ends at (i * hop + window); the phrase is inside the windows that end after it does.
    ends = np.arange(scores.size) * hop + detector.window_samples / 16_000
    around = (ends >= end_s - 0.2) & (ends <= end_s + 1.0)
    assert scores[around].max() > scores[~around].max(), "the phrase scores above the background"
    for detection in detector.detect(stream):
        assert abs(detection.time_s - end_s) <= 0.5 + detector.window_samples / 16_000, detection

    speech = np.concatenate(
        [
            voice.speak(text, voice="en-gb-x-rp", rate_wpm=170, pitch=50)
            for text in ordinary_sentences("en", "hey jarvis")
        ]
    )
    while speech.size < 60 * 16_000:
        speech = np.concatenate([speech, speech])
    background = detector.scores(speech[: 60 * 16_000])
    assert background.size == window_count(60 * 16_000, window=detector.window_samples, hop=1600)
    assert np.isfinite(background).all() and ((background >= 0) & (background <= 1)).all()
