"""Near-duplicate QA: a clip whose audio nearly equals an older clip of its dataset is flagged, found by fingerprints
stored at ingest (or made lazily), and the clips listing filters by any QA flag."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import soxr
from litestar.testing import TestClient
from sqlalchemy import select, update

from shared import clip_fingerprint
from shared.db.models import Clip
from shared.db.session import create_sync_db_engine
from shared.settings import Settings
from tests.audio_factory import encode
from tests.conftest import create_dataset, upload

RATE = 16_000


def word(pitches: tuple[float, ...], *, syllable_s: float = 0.22, pad_s: float = 0.25, rate: int = RATE) -> np.ndarray:
    """A spoken-word stand-in: voiced syllables (a pitch and its harmonics, rising and falling), silence around."""
    t = np.arange(round(syllable_s * rate)) / rate
    envelope = np.sin(np.pi * t / syllable_s) ** 2
    syllables = [envelope * sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 6)) * 0.12 for f in pitches]
    silence = np.zeros(round(pad_s * rate))
    return np.concatenate([silence, *syllables, silence]).astype(np.float32)


HEY = (180.0, 260.0, 210.0)
OTHER = (300.0, 150.0, 240.0)


def fingerprint(samples: np.ndarray) -> clip_fingerprint.Fingerprint:
    found = clip_fingerprint.decode(clip_fingerprint.compute(samples))
    assert found is not None
    return found


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return clip_fingerprint.near_duplicates([fingerprint(a), fingerprint(b)]) == {1: 0}


@pytest.mark.unit
def test_copies_of_a_take_match_and_other_words_or_speeds_do_not() -> None:
    take = word(HEY)
    noise = np.random.default_rng(3).standard_normal(take.size).astype(np.float32) * 0.002  # ~30 dB under the voice
    resampled = soxr.resample(soxr.resample(take, RATE, 44_100), 44_100, RATE)

    assert same(take, take * 0.4)  # turned down 8 dB
    assert same(take, resampled)
    assert same(take, np.concatenate([np.zeros(4_000, np.float32), take, np.zeros(800, np.float32)]))
    assert same(take, take + noise)
    assert not same(take, word(OTHER))
    assert not same(take, word(HEY, syllable_s=0.20))  # the same "word" 10 % faster: another take


@pytest.mark.unit
def test_each_near_duplicate_points_at_the_oldest_clip_it_equals() -> None:
    take = word(HEY)
    prints = [fingerprint(take), fingerprint(word(OTHER)), fingerprint(take * 0.5), None, fingerprint(take * 0.8)]

    assert clip_fingerprint.near_duplicates(prints) == {2: 0, 4: 0}


@pytest.mark.unit
def test_a_fingerprint_of_another_version_or_size_reads_as_missing() -> None:
    stored = clip_fingerprint.compute(word(HEY))

    assert clip_fingerprint.decode(stored) is not None
    assert clip_fingerprint.decode(None) is None
    assert clip_fingerprint.decode(stored[:-1]) is None
    assert clip_fingerprint.decode(bytes([clip_fingerprint.VERSION + 1]) + stored[1:]) is None


def wav(samples: np.ndarray, rate: int = RATE) -> bytes:
    return encode(samples, rate)


def post(client: TestClient, dataset: str, filename: str, data: bytes, label: str = "positive") -> dict[str, Any]:
    response = upload(client, dataset, [(filename, data)], label=label)
    assert response.status_code == 201, response.text
    return response.json()["clips"][0]


@pytest.fixture
def kitchen(client: TestClient) -> str:
    create_dataset(client, "kitchen")
    return "kitchen"


def flagged(client: TestClient, dataset: str) -> dict[str, tuple[list[str], str | None]]:
    body = client.get(f"/datasets/{dataset}/quality").json()
    return {c["filename"]: (c["flags"], c["duplicate_of"] and c["duplicate_of"]["filename"]) for c in body["flagged"]}


def test_a_louder_resampled_padded_copy_is_flagged_as_a_near_duplicate_of_the_original(
    client: TestClient, kitchen: str
) -> None:
    original = post(client, kitchen, "take-1.wav", wav(word(HEY)))
    copy_44k = soxr.resample(np.pad(word(HEY), (3_000, 0)) * 1.6, RATE, 44_100)
    post(client, kitchen, "take-1-export.wav", wav(copy_44k, 44_100))
    post(client, kitchen, "take-2.wav", wav(word(OTHER)))

    body = client.get(f"/datasets/{kitchen}/quality").json()

    assert body["flagged_count"] == 1
    [copy] = body["flagged"]
    assert (copy["filename"], copy["flags"]) == ("take-1-export.wav", ["near_duplicate"])
    assert copy["duplicate_of"] == {
        "id": original["id"],
        "filename": "take-1.wav",
        "label": "positive",
        "audio_url": original["audio_url"],
    }
    assert body["by_speaker"][0]["flagged"] == 1


def test_a_positive_that_sounds_like_a_stored_negative_is_flagged(client: TestClient, kitchen: str) -> None:
    post(client, kitchen, "near-miss.wav", wav(word(HEY)), label="negative")
    post(client, kitchen, "hey.wav", wav(word(HEY) * 0.7), label="positive")

    assert flagged(client, kitchen) == {"hey.wav": (["near_duplicate"], "near-miss.wav")}


def test_steady_noise_clips_alike_are_not_near_duplicates(client: TestClient, kitchen: str) -> None:
    rng = np.random.default_rng(1)
    for i in range(2):
        post(client, kitchen, f"fan-{i}.wav", wav(0.05 * rng.standard_normal(RATE).astype(np.float32)), label="noise")

    assert flagged(client, kitchen) == {}


def test_deleting_the_copy_clears_the_flag_and_relabelling_keeps_it(client: TestClient, kitchen: str) -> None:
    post(client, kitchen, "take.wav", wav(word(HEY)))
    copy = post(client, kitchen, "copy.wav", wav(word(HEY) * 0.5))
    assert flagged(client, kitchen) == {"copy.wav": (["near_duplicate"], "take.wav")}

    relabelled = client.patch(f"/datasets/{kitchen}/recordings/{copy['id']}", json={"label": "negative"})
    assert relabelled.status_code == 200
    assert flagged(client, kitchen) == {"copy.wav": (["near_duplicate"], "take.wav")}

    assert client.delete(f"/datasets/{kitchen}/recordings/{copy['id']}").status_code == 200
    assert flagged(client, kitchen) == {}


def test_fingerprints_missing_from_older_clips_are_made_from_their_files_and_kept(
    client: TestClient, settings: Settings, kitchen: str
) -> None:
    post(client, kitchen, "take.wav", wav(word(HEY)))
    post(client, kitchen, "copy.wav", wav(word(HEY) * 0.5))
    engine = create_sync_db_engine(settings.resolved_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(Clip).values(fingerprint=None))

        assert flagged(client, kitchen) == {"copy.wav": (["near_duplicate"], "take.wav")}

        with engine.begin() as conn:
            stored = conn.execute(select(Clip.fingerprint)).scalars().all()
        assert len(stored) == 2 and all(clip_fingerprint.decode(f) is not None for f in stored)
    finally:
        engine.dispose()


def names(client: TestClient, dataset: str, **params: str) -> list[str]:
    response = client.get(f"/datasets/{dataset}/recordings", params={"sort": "created_at", **params})
    assert response.status_code == 200, response.text
    return [c["original_filename"] for c in response.json()["items"]]


def test_the_listing_filters_by_a_qa_flag_or_any_flag_with_the_other_filters(client: TestClient, kitchen: str) -> None:
    post(client, kitchen, "take.wav", wav(word(HEY)))
    post(client, kitchen, "copy.wav", wav(word(HEY) * 0.5))
    post(client, kitchen, "hot.wav", wav(np.clip(word(OTHER) * 12, -1, 1)))
    post(client, kitchen, "other.wav", wav(word((400.0, 330.0))))

    assert names(client, kitchen, flag="near_duplicate") == ["copy.wav"]
    assert names(client, kitchen, flag="clipped") == ["hot.wav"]
    assert names(client, kitchen, flag="any") == ["copy.wav", "hot.wav"]
    assert names(client, kitchen, flag="any", label="negative") == []
    assert names(client, kitchen, flag="silent") == []
    page = client.get(f"/datasets/{kitchen}/recordings", params={"flag": "any", "limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1


def test_an_unknown_flag_filter_is_422_naming_the_flags(client: TestClient, kitchen: str) -> None:
    response = client.get(f"/datasets/{kitchen}/recordings", params={"flag": "noisy"})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("unknown flag 'noisy'; use one of: silent, clipped")
    assert "near_duplicate, any" in detail


def test_the_flag_filter_of_the_trash_judges_the_trashed_clips(client: TestClient, kitchen: str) -> None:
    hot = post(client, kitchen, "hot.wav", wav(np.clip(word(OTHER) * 12, -1, 1)))
    post(client, kitchen, "fine.wav", wav(word(HEY)))
    assert client.delete(f"/datasets/{kitchen}/recordings/{hot['id']}").status_code == 200

    assert names(client, kitchen, flag="clipped") == []
    assert names(client, kitchen, flag="clipped", deleted="true") == ["hot.wav"]
    assert names(client, kitchen, flag="any", deleted="all") == ["hot.wav"]
