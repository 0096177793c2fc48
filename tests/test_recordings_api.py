"""Recordings: upload in every accepted format, list, read, download, edit, soft-delete and restore."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import soundfile as sf
from litestar.testing import TestClient
from sqlalchemy import delete, select

from api.recordings.service import RecordingService
from shared.db.models import Clip, Dataset
from shared.db.session import create_sync_db_engine
from shared.settings import Settings
from shared.storage import Storage, remove_tree
from tests.audio_factory import encode, tone, wav_bytes
from tests.conftest import add_clips, create_dataset, upload


@pytest.fixture
def kitchen(client: TestClient) -> str:
    create_dataset(client, "kitchen")
    return "kitchen"


@pytest.mark.parametrize(
    ("fmt", "subtype", "sample_rate", "channels"),
    [
        ("WAV", "PCM_U8", 8_000, 1),
        ("WAV", "PCM_16", 16_000, 1),
        ("WAV", "PCM_24", 44_100, 2),
        ("WAV", "PCM_32", 48_000, 1),
        ("WAV", "FLOAT", 22_050, 2),
        ("FLAC", "PCM_16", 48_000, 2),
        ("OGG", "VORBIS", 32_000, 1),
    ],
    ids=lambda v: str(v),
)
def test_upload_in_any_accepted_format_is_stored_as_16k_mono_pcm16(
    client: TestClient, settings: Settings, kitchen: str, fmt: str, subtype: str, sample_rate: int, channels: int
) -> None:
    original = wav_bytes(1.5, sample_rate=sample_rate, channels=channels, fmt=fmt, subtype=subtype)

    response = upload(client, kitchen, [(f"take.{fmt.lower()}", original)], label="positive", speaker="alice")

    assert response.status_code == 201, response.text
    [clip] = response.json()["clips"]
    assert clip["original_format"] == f"{fmt}/{subtype}"
    assert clip["original_sample_rate"] == sample_rate
    assert clip["original_channels"] == channels
    assert clip["sample_rate"] == 16_000
    assert clip["duration_s"] == pytest.approx(1.5, abs=0.002)
    stored = settings.data_dir / "datasets" / kitchen / "clips" / f"{clip['id']}.wav"
    info = sf.info(str(stored))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (16_000, 1, "PCM_16", "WAV")
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == clip["sha256"]
    assert stored.stat().st_size == clip["size_bytes"]


def test_resampling_keeps_the_pitch_and_level(client: TestClient, kitchen: str) -> None:
    original = encode(tone(1.0, sample_rate=44_100, freq=1_000.0, amplitude=0.5), 44_100, subtype="PCM_24")
    [clip] = upload(client, kitchen, [("tone.wav", original)]).json()["clips"]

    audio, rate = sf.read(io.BytesIO(client.get(clip["audio_url"]).content))

    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * rate / len(audio)
    assert peak_hz == pytest.approx(1_000.0, abs=2.0)
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert clip["loudness_dbfs"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)


def test_many_files_in_one_upload_share_label_speaker_and_notes(client: TestClient, kitchen: str) -> None:
    files = [(f"take-{i}.wav", wav_bytes(seed=i)) for i in range(4)]

    response = upload(client, kitchen, files, label="negative", speaker="bob", notes="fan on", source="recording")

    assert response.status_code == 201
    clips = response.json()["clips"]
    assert [c["original_filename"] for c in clips] == [name for name, _ in files]
    assert {(c["label"], c["speaker"], c["notes"], c["source"]) for c in clips} == {
        ("negative", "bob", "fan on", "recording")
    }
    assert client.get("/datasets/kitchen").json()["clip_counts"]["negative"] == 4


def test_client_side_paths_in_filenames_are_reduced_to_the_base_name(client: TestClient, kitchen: str) -> None:
    [clip] = upload(client, kitchen, [("C:\\Users\\me\\take.wav", wav_bytes())]).json()["clips"]
    assert clip["original_filename"] == "take.wav"


def test_listing_pages_oldest_first_and_filters_by_label_speaker_and_deleted(client: TestClient, kitchen: str) -> None:
    positives = add_clips(client, kitchen, 5, label="positive", speaker="alice")
    add_clips(client, kitchen, 3, label="noise", seed=50)
    client.delete(f"/datasets/kitchen/recordings/{positives[0]['id']}")

    def ids(**params: object) -> list[str]:
        return [c["id"] for c in client.get("/datasets/kitchen/recordings", params=params).json()["items"]]

    page = client.get("/datasets/kitchen/recordings", params={"limit": 3, "offset": 0}).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (7, 3, 0, 3)
    everything = ids(limit=3) + ids(limit=3, offset=3) + ids(limit=3, offset=6)
    assert everything == ids(limit=500)
    assert len(set(everything)) == 7
    assert ids(label="positive") == [c["id"] for c in positives[1:]]
    assert ids(speaker="alice") == [c["id"] for c in positives[1:]]
    assert ids(label="noise", speaker="alice") == []
    assert ids(deleted="true") == [positives[0]["id"]]
    assert len(ids(deleted="all")) == 8


def test_listing_sorts_by_created_duration_or_label_and_filters_by_source(client: TestClient, kitchen: str) -> None:
    for name, seconds, fields in (
        ("short.wav", 0.6, {"label": "noise"}),
        ("long.wav", 2.0, {"source": "recording"}),
        ("mid.wav", 1.2, {"label": "negative"}),
    ):
        assert upload(client, kitchen, [(name, wav_bytes(seconds, seed=len(name)))], **fields).status_code == 201

    def names(**params: object) -> list[str]:
        page = client.get("/datasets/kitchen/recordings", params=params)
        assert page.status_code == 200, page.text
        return [c["original_filename"] for c in page.json()["items"]]

    assert names() == names(sort="created_at") == ["short.wav", "long.wav", "mid.wav"]
    assert names(sort="-created_at") == ["mid.wav", "long.wav", "short.wav"]
    assert names(sort="-created_at", limit=1, offset=0) + names(sort="-created_at", limit=2, offset=1) == names(
        sort="-created_at"
    )
    assert names(sort="duration_s") == ["short.wav", "mid.wav", "long.wav"]
    assert names(sort="-duration_s") == ["long.wav", "mid.wav", "short.wav"]
    assert names(sort="label") == ["mid.wav", "short.wav", "long.wav"]  # negative, noise, positive
    assert names(sort="-label") == ["long.wav", "short.wav", "mid.wav"]
    assert names(source="recording") == ["long.wav"]
    assert names(source="upload", sort="-created_at") == ["mid.wav", "short.wav"]
    assert names(source="synthetic") == []

    for params, named in (({"sort": "loudness"}, "sort"), ({"sort": "created"}, "sort"), ({"source": "mic"}, "source")):
        response = client.get("/datasets/kitchen/recordings", params=params)
        assert response.status_code == 422, response.text
        assert named in response.json()["detail"] and "use one of" in response.json()["detail"]


def test_a_clip_reads_back_and_its_audio_downloads_as_stored(
    client: TestClient, settings: Settings, kitchen: str
) -> None:
    [clip] = add_clips(client, kitchen, 1, speaker="alice")

    assert client.get(f"/datasets/kitchen/recordings/{clip['id']}").json() == clip
    audio = client.get(clip["audio_url"])
    assert audio.status_code == 200
    assert audio.headers["content-type"].startswith("audio/wav")
    assert hashlib.sha256(audio.content).hexdigest() == clip["sha256"]


def test_patch_changes_label_speaker_and_notes_and_null_clears(client: TestClient, kitchen: str) -> None:
    [clip] = add_clips(client, kitchen, 1, label="positive", speaker="alice")
    url = f"/datasets/kitchen/recordings/{clip['id']}"

    changed = client.patch(url, json={"label": "negative", "notes": "  said 'hey travis'  "})
    assert changed.status_code == 200
    assert (changed.json()["label"], changed.json()["notes"], changed.json()["speaker"]) == (
        "negative",
        "said 'hey travis'",
        "alice",
    )
    assert changed.json()["updated_at"] >= clip["updated_at"]

    cleared = client.patch(url, json={"speaker": None}).json()
    assert cleared["speaker"] is None
    assert cleared["label"] == "negative"
    assert client.get("/datasets/kitchen").json()["clip_counts"] == {"positive": 0, "negative": 1, "noise": 0}


def test_soft_delete_moves_the_file_to_trash_and_restore_brings_it_back(
    client: TestClient, settings: Settings, kitchen: str
) -> None:
    [clip] = add_clips(client, kitchen, 1)
    url = f"/datasets/kitchen/recordings/{clip['id']}"
    active = settings.data_dir / "datasets" / kitchen / "clips" / f"{clip['id']}.wav"
    trashed = settings.data_dir / "datasets" / kitchen / "trash" / f"{clip['id']}.wav"

    deleted = client.delete(url)
    assert deleted.status_code == 200
    assert deleted.json()["deleted"] is True and deleted.json()["deleted_at"] is not None
    assert trashed.is_file() and not active.exists()
    assert client.get("/datasets/kitchen/recordings").json()["total"] == 0
    assert client.get(url).json()["deleted"] is True
    assert hashlib.sha256(client.get(clip["audio_url"]).content).hexdigest() == clip["sha256"]

    restored = client.post(f"{url}/restore")
    assert restored.status_code == 200
    assert restored.json()["deleted"] is False and restored.json()["deleted_at"] is None
    assert active.is_file() and not trashed.exists()
    assert hashlib.sha256(active.read_bytes()).hexdigest() == clip["sha256"]
    assert client.get("/datasets/kitchen/recordings").json()["total"] == 1


def test_the_same_audio_may_live_in_two_datasets(client: TestClient, kitchen: str) -> None:
    create_dataset(client, "office")
    take = [("take.wav", wav_bytes(seed=7))]

    assert upload(client, kitchen, take).status_code == 201
    assert upload(client, "office", take).status_code == 201


def test_uploading_the_audio_of_a_trashed_clip_points_to_restore(client: TestClient, kitchen: str) -> None:
    [clip] = add_clips(client, kitchen, 1, seed=3)
    client.delete(f"/datasets/kitchen/recordings/{clip['id']}")

    response = upload(client, kitchen, [("again.wav", wav_bytes(seed=3))])

    assert response.status_code == 409
    assert response.json()["existing_clip_id"] == clip["id"]
    assert "restore" in response.json()["detail"]


def test_a_failed_commit_leaves_no_file_behind(
    client: TestClient, settings: Settings, kitchen: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    async def failing_commit(self: AsyncSession) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    response = upload(client, kitchen, [("a.wav", wav_bytes(seed=1)), ("b.wav", wav_bytes(seed=2))])
    monkeypatch.undo()

    assert response.status_code == 500

    clips_dir = settings.data_dir / "datasets" / kitchen / "clips"
    assert list(clips_dir.iterdir()) == []
    assert client.get("/datasets/kitchen/recordings", params={"deleted": "all"}).json()["total"] == 0


def test_an_upload_racing_a_forced_dataset_delete_is_404_and_leaves_no_folder(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The dataset goes (with ?force=true, from another request) after the upload checked it and before its rows
    commit: the upload says so, not "same audio stored at the same moment", and makes no folder again."""
    if backend == "sqlite":
        pytest.skip("SQLite transactions take the write lock up front (BEGIN IMMEDIATE): the delete waits its turn")
    create_dataset(client, "kitchen")
    add_clips(client, "kitchen", 2)
    original = RecordingService._refuse_duplicates

    async def delete_meanwhile(self: RecordingService, *args: object) -> None:
        await original(self, *args)
        engine = create_sync_db_engine(settings.resolved_database_url)
        with engine.begin() as conn:
            dataset_id = conn.execute(select(Dataset.id).where(Dataset.name == "kitchen")).scalar_one()
            conn.execute(delete(Clip).where(Clip.dataset_id == dataset_id))
            conn.execute(delete(Dataset).where(Dataset.id == dataset_id))
        engine.dispose()
        remove_tree(Storage(settings.data_dir).dataset_dir("kitchen"))

    monkeypatch.setattr(RecordingService, "_refuse_duplicates", delete_meanwhile)
    response = upload(client, "kitchen", [("late.wav", wav_bytes(seed=50)), ("later.wav", wav_bytes(seed=51))])

    assert response.status_code == 404
    assert "was deleted while the upload was being stored" in response.json()["detail"]
    assert not Storage(settings.data_dir).dataset_dir("kitchen").exists()
