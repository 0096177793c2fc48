"""Dataset QA: per-clip levels and flags, silent uploads refused unless labelled noise, and GET .../quality."""

from __future__ import annotations

import numpy as np
import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from shared.clip_quality import measure, quality_flags
from shared.db.models import Clip
from shared.db.session import create_sync_db_engine
from shared.settings import Settings
from tests.audio_factory import encode
from tests.conftest import create_dataset, upload

RATE = 16_000


def signal(before: float, tone_s: float, after: float, *, amplitude: float = 0.3, freq: float = 440.0) -> np.ndarray:
    """Digital silence, a clean sine, digital silence (no noise: the silences stay silent)."""
    t = np.arange(round(tone_s * RATE)) / RATE
    sine = np.clip(amplitude * np.sin(2 * np.pi * freq * t), -1.0, 1.0)
    return np.concatenate([np.zeros(round(before * RATE)), sine, np.zeros(round(after * RATE))]).astype(np.float32)


def flags_of(samples: np.ndarray, label: str = "positive") -> list[str]:
    return quality_flags(measure(samples, RATE), label)


@pytest.mark.unit
def test_a_tone_in_the_middle_of_a_clip_raises_no_flag_and_its_silences_are_measured() -> None:
    quality = measure(signal(0.2, 0.6, 0.2), RATE)

    assert quality_flags(quality, "positive") == []
    assert quality.peak_dbfs == pytest.approx(-10.46, abs=0.05)
    assert quality.leading_silence_s == pytest.approx(0.2, abs=0.011)
    assert quality.trailing_silence_s == pytest.approx(0.2, abs=0.011)
    assert quality.activity_share == pytest.approx(0.6, abs=0.02)
    assert quality.clipping_ratio == 0


@pytest.mark.unit
def test_each_flag_is_raised_by_the_signal_it_names() -> None:
    assert flags_of(np.zeros(RATE, dtype=np.float32)) == ["silent"]
    assert flags_of(signal(0.2, 0.6, 0.2, amplitude=1.5)) == ["clipped"]
    assert flags_of(signal(0.2, 0.6, 0.2, amplitude=0.01)) == ["too_quiet"]
    assert flags_of(signal(0.0, 0.8, 0.2)) == ["cut_at_edge"]
    assert flags_of(signal(0.2, 0.8, 0.0)) == ["cut_at_edge"]
    assert flags_of(signal(0.45, 0.1, 0.45)) == ["mostly_silence"]


@pytest.mark.unit
def test_only_a_positive_is_cut_at_the_edge_and_a_clip_just_inside_the_edge_is_not() -> None:
    assert flags_of(signal(0.0, 0.8, 0.2), "negative") == []
    assert flags_of(signal(0.0, 0.8, 0.2), "noise") == []
    assert flags_of(signal(0.05, 0.8, 0.15)) == []


@pytest.fixture
def kitchen(client: TestClient) -> str:
    create_dataset(client, "kitchen")
    return "kitchen"


def wav(samples: np.ndarray) -> bytes:
    return encode(samples, RATE)


def test_quality_lists_exactly_the_flagged_clips_with_their_flags_and_the_histograms(
    client: TestClient, kitchen: str
) -> None:
    uploads = {
        "clipped.wav": signal(0.2, 0.6, 0.2, amplitude=1.5, freq=300.0),
        "cut.wav": signal(0.0, 0.8, 0.2, freq=500.0),
        "clean.wav": signal(0.2, 0.6, 0.2, freq=700.0),
    }
    for filename, samples in uploads.items():
        assert upload(client, kitchen, [(filename, wav(samples))], speaker="alice").status_code == 201

    response = client.get(f"/datasets/{kitchen}/quality")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["clips"], body["flagged_count"], body["unmeasured"]) == (3, 2, 0)
    flagged = {c["filename"]: (c["label"], c["speaker"], c["flags"]) for c in body["flagged"]}
    assert flagged == {
        "clipped.wav": ("positive", "alice", ["clipped"]),
        "cut.wav": ("positive", "alice", ["cut_at_edge"]),
    }
    durations = body["duration_histogram"]
    assert durations["unit"] == "s"
    assert [(b["low"], b["high"]) for b in durations["bins"]][:3] == [(None, 0.5), (0.5, 1.0), (1.0, 1.5)]
    assert {(b["low"], b["clips"]) for b in durations["bins"] if b["clips"]} == {(1.0, 3)}
    levels = {(b["low"], b["high"]): b["clips"] for b in body["loudness_histogram"]["bins"] if b["clips"]}
    assert sum(levels.values()) == 3
    assert levels[(-20.0, -10.0)] == 2  # the clean tones: an RMS of about -13.5 dBFS
    [alice] = body["by_speaker"]
    assert (alice["name"], alice["clips"], alice["flagged"]) == ("alice", 3, 2)
    assert alice["mean_duration_s"] == pytest.approx(1.0)
    assert [(s["name"], s["clips"]) for s in body["by_source"]] == [("upload", 3)]


def test_quality_measures_clips_stored_before_qa_from_their_files(
    client: TestClient, settings: Settings, kitchen: str
) -> None:
    assert upload(client, kitchen, [("cut.wav", wav(signal(0.0, 0.8, 0.2)))]).status_code == 201
    engine = create_sync_db_engine(settings.resolved_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(Clip).values(peak_dbfs=None, activity_share=None, active_at_edge=None))

        body = client.get(f"/datasets/{kitchen}/quality").json()

        assert [c["flags"] for c in body["flagged"]] == [["cut_at_edge"]]
        with engine.begin() as conn:
            assert conn.execute(select(Clip.peak_dbfs, Clip.active_at_edge)).one() == (
                pytest.approx(-10.46, abs=0.05),
                True,
            )
    finally:
        engine.dispose()


def test_a_clip_whose_file_cannot_be_read_is_counted_unmeasured_not_an_error(
    client: TestClient, settings: Settings, kitchen: str
) -> None:
    [clip] = upload(client, kitchen, [("take.wav", wav(signal(0.2, 0.6, 0.2)))]).json()["clips"]
    (settings.data_dir / "datasets" / kitchen / "clips" / f"{clip['id']}.wav").write_bytes(b"RIFF....WAVEjunk")
    engine = create_sync_db_engine(settings.resolved_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(Clip).values(peak_dbfs=None))
    finally:
        engine.dispose()

    response = client.get(f"/datasets/{kitchen}/quality")

    assert response.status_code == 200, response.text
    assert (response.json()["unmeasured"], response.json()["flagged"]) == (1, [])


def test_a_silent_positive_upload_is_refused_with_422_and_nothing_is_stored(
    client: TestClient, settings: Settings, kitchen: str
) -> None:
    files = [("take.wav", wav(signal(0.2, 0.6, 0.2))), ("empty.wav", wav(np.zeros(RATE, dtype=np.float32)))]

    response = upload(client, kitchen, files, label="positive")

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "file 2 ('empty.wav'): the clip is silent" in detail
    assert "label it noise if that is what it is" in detail
    assert client.get(f"/datasets/{kitchen}/recordings").json()["total"] == 0
    assert not list((settings.data_dir / "datasets" / kitchen / "clips").glob("*.wav"))


def test_a_silent_upload_labelled_noise_is_stored_and_flagged_silent(client: TestClient, kitchen: str) -> None:
    response = upload(client, kitchen, [("room.wav", wav(np.zeros(RATE, dtype=np.float32)))], label="noise")

    assert response.status_code == 201, response.text
    body = client.get(f"/datasets/{kitchen}/quality").json()
    assert [(c["filename"], c["label"], c["flags"]) for c in body["flagged"]] == [("room.wav", "noise", ["silent"])]


def test_quality_of_an_unknown_dataset_is_404(client: TestClient) -> None:
    assert client.get("/datasets/nowhere/quality").status_code == 404
