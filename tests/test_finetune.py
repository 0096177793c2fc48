"""Fine-tuning an earlier job's model (`base_job`): what POST /train refuses, and a real run from the base's weights."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import soundfile as sf
import torch
from litestar.testing import TestClient

from shared.db.base import utcnow
from shared.db.models import Job
from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.settings import Settings
from shared.storage import Storage
from shared.training_config import FRONT_END, TrainingConfig, config_to_dict
from tests.conftest import add_clips, create_dataset, wait_for_job
from tests.test_trainer import RATE, RecordingHooks, _clip_audio, make_clips, shared_cache
from worker.training.counterparts import add_counterparts
from worker.training.data import load_audio, split_clips, stack_windows, user_clips
from worker.training.evaluate import binary_metrics, score_logits
from worker.training.export import load_checkpoint
from worker.training.finetune import start_model
from worker.training.trainer import TrainingClip, TrainingResult, train

BASE_CONFIG = TrainingConfig(preset="tiny", epochs=3, steps_per_epoch=4, batch_size=8, seed=7, background_speech_s=0)
QUICK = {
    "preset": "tiny",
    "config_overrides": {"epochs": 3, "steps_per_epoch": 3, "batch_size": 8, "background_speech_s": 0},
}


# The trainer: a real tiny fine-tune.


def my_takes(directory: Path, *, positives: int = 6, negatives: int = 4) -> list[TrainingClip]:
    """The user's own recordings: the same kinds of clip as make_clips, from speaker "me"."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    clips = []
    for kind, count in (("positive", positives), ("negative", negatives)):
        for i in range(count):
            path = directory / f"me-{kind}-{i}.wav"
            sf.write(path, _clip_audio(kind, rng, 1.0), RATE, subtype="PCM_16")
            clips.append(TrainingClip(f"me-{kind}-{i}", path, kind, speaker="me", source="recording"))
    return clips


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[TrainingClip], Path]:
    """A trained tiny base model: its clips and its export folder."""
    clips = make_clips(tmp_path_factory.mktemp("base-clips"))
    export = tmp_path_factory.mktemp("base") / "export"
    train(clips, BASE_CONFIG, export, RecordingHooks(), device="cpu", cache_dir=shared_cache())
    return clips, export


@pytest.fixture(scope="module")
def finetuned(
    base_run: tuple[list[TrainingClip], Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainingResult, RecordingHooks, Path, TrainingConfig, list[TrainingClip]]:
    """The base fine-tuned on its clips plus the user's takes."""
    clips, base_export = base_run
    clips = clips + my_takes(tmp_path_factory.mktemp("my-takes"))
    config = msgspec.structs.replace(BASE_CONFIG, base_job=uuid.uuid4(), finetune_lr_factor=0.5)
    hooks = RecordingHooks()
    export = tmp_path_factory.mktemp("finetune") / "export"
    result = train(
        clips, config, export, hooks, device="cpu", cache_dir=shared_cache(), base_checkpoint=base_export / "model.pt"
    )
    return result, hooks, export, config, clips


def test_a_finetune_starts_from_the_base_models_weights(finetuned: tuple, base_run: tuple) -> None:
    result, _, _, config, clips = finetuned
    base_model, _ = load_checkpoint(base_run[1] / "model.pt")
    # The run's validation side, drawn as the trainer draws it (the seed's first draws: the split, then the
    # counterparts of the takes), scored by the base model.
    labels = np.array([int(c.label == "positive") for c in clips])
    speakers, sources = [c.speaker for c in clips], [c.source for c in clips]
    rng = np.random.default_rng(config.seed)
    split = split_clips(labels, speakers, rng, sources=sources)
    audio = [load_audio(c.path) for c in clips]
    extended = add_counterparts(
        audio, labels, [c.label for c in clips], user_clips(sources, speakers), split.train, split.val, rng
    )
    windows = stack_windows(extended.audio, extended.val, round(config.window_s * RATE))
    expected = binary_metrics(
        score_logits(base_model, windows, torch.device("cpu")), extended.labels[extended.val], "base_val"
    )

    assert result.metrics["base_val_loss"] == pytest.approx(expected["base_val_loss"], rel=1e-5)
    assert result.metrics["base_val_accuracy"] == pytest.approx(expected["base_val_accuracy"])


def test_a_finetune_runs_a_third_of_the_epochs_at_its_own_rate_and_exports(finetuned: tuple, base_run: tuple) -> None:
    result, hooks, export, config, _ = finetuned
    assert [call["epochs"] for call in hooks.progress_calls] == [1]
    assert hooks.progress_calls[-1]["total_steps"] == config.steps_per_epoch
    assert result.metrics["steps"] == config.steps_per_epoch
    peak = config.learning_rate * config.finetune_lr_factor
    assert all(call["metrics"]["learning_rate"] <= peak + 1e-12 for call in hooks.progress_calls)
    assert {"model.pt", "model.onnx", "model.int8.onnx", "metrics.json"} <= set(result.files)
    assert all((export / name).is_file() for name in result.files)
    # It trained: the exported weights moved away from the base's.
    tuned, checkpoint = load_checkpoint(export / "model.pt")
    base, _ = load_checkpoint(base_run[1] / "model.pt")
    moved = [name for name, value in tuned.state_dict().items() if not torch.equal(value, base.state_dict()[name])]
    assert moved
    assert checkpoint["config"]["base_job"] == str(config.base_job) and checkpoint["front_end"] == FRONT_END


def test_a_finetune_validates_only_the_epochs_it_may_keep(base_run: tuple, tmp_path: Path) -> None:
    clips, base_export = base_run
    # Nine epochs fine-tune for three; only the second half (epochs 2 and 3) competes to be exported.
    config = msgspec.structs.replace(BASE_CONFIG, epochs=9, steps_per_epoch=2, base_job=uuid.uuid4())
    hooks = RecordingHooks()
    train(clips, config, tmp_path / "export", hooks, device="cpu", base_checkpoint=base_export / "model.pt")

    validated = {call["epoch"]: "val_frr" in call["metrics"] for call in hooks.progress_calls}
    assert validated == {1: False, 2: True, 3: True}
    history = json.loads((tmp_path / "export" / "metrics.json").read_text())["history"]
    assert ["val_loss" in epoch for epoch in history] == [False, True, True]


def test_a_finetunes_metrics_and_log_say_which_job_it_started_from(finetuned: tuple) -> None:
    result, hooks, _, config, _ = finetuned
    assert result.metrics["fine_tuned_from"] == str(config.base_job)
    started = [m for _, m in hooks.messages if m.startswith(f"fine-tuning the model of job {config.base_job}")]
    assert len(started) == 1 and "for 1 of 3 epochs" in started[0] and "before the first step" in started[0]
    mine = [m for _, m in hooks.messages if m.startswith("your own clips in training")]
    assert mine and "drawn 4x as often" in mine[0]


def test_a_checkpoint_of_another_architecture_or_window_or_none_at_all_is_refused(
    base_run: tuple, tmp_path: Path
) -> None:
    checkpoint = base_run[1] / "model.pt"
    for change, named in (({"preset": "small"}, "architecture preset='tiny'"), ({"window_s": 1.2}, "window_s=1.5")):
        config = msgspec.structs.replace(BASE_CONFIG, base_job=uuid.uuid4(), **change)
        with pytest.raises(ValueError, match=named):
            start_model(config, checkpoint)
    config = msgspec.structs.replace(BASE_CONFIG, base_job=uuid.uuid4())
    with pytest.raises(FileNotFoundError, match="gone from the data volume"):
        start_model(config, tmp_path / "model.pt")
    tuned = start_model(config, checkpoint)
    base, _ = load_checkpoint(checkpoint)
    assert all(torch.equal(value, base.state_dict()[name]) for name, value in tuned.state_dict().items())
    assert tuned.training


# The API: POST /train with base_job.


def base_job(
    settings: Settings,
    *,
    status: str = "succeeded",
    kind: str = "train",
    config: dict[str, Any] | None = None,
    front_end: str = FRONT_END,
    checkpoint: str = "on disk",
) -> str:
    """A job row as a worker leaves it; `checkpoint` is "on disk", "listed only" or "none"."""
    job_id = uuid.uuid4()
    listed = checkpoint != "none"
    if checkpoint == "on disk":
        folder = Storage(settings.data_dir).job_export_dir(job_id)
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(b"weights")
    engine = create_sync_db_engine(settings.database_url)
    with sync_session_factory(engine)() as session:
        session.add(
            Job(
                id=job_id,
                dataset_name="kitchen",
                kind=kind,
                status=status,
                preset="tiny",
                config=config if config is not None else config_to_dict(TrainingConfig(preset="tiny", epochs=6)),
                clips=[],
                snapshot_sha256="0" * 64,
                attempts=1,
                metrics={"front_end": front_end},
                artifacts=[{"name": "model.pt", "size": 7, "sha256": "0" * 64}] if listed else [],
                finished_at=utcnow(),
            )
        )
        session.commit()
    engine.dispose()
    return str(job_id)


@pytest.fixture
def ready(client: TestClient) -> str:
    create_dataset(client, "kitchen")
    add_clips(client, "kitchen", 10, label="positive")
    add_clips(client, "kitchen", 10, label="negative", seed=100)
    return "kitchen"


@pytest.mark.parametrize(
    ("base", "overrides", "named"),
    [
        ("not-a-uuid", {}, "base_job 'not-a-uuid' is not a job id"),
        ("unknown", {}, "does not exist"),
        ({"status": "running"}, {}, "is running, so it has no model yet"),
        ({"status": "failed"}, {}, "is failed, so it has no model yet"),
        ({"kind": "evaluate"}, {}, "is a job of kind 'evaluate', not a train job"),
        ({"checkpoint": "none"}, {}, "its model.pt was not exported"),
        ({"checkpoint": "listed only"}, {}, "its model.pt is gone from the data volume"),
        ({}, {"preset": "small"}, "has architecture preset='tiny' and this config asks for preset='small'"),
        ({}, {"window_s": 1.2}, "has window window_s=1.5 and this config asks for window_s=1.2"),
        ({}, {"architecture": "windowed"}, "has architecture architecture='streaming' and this config asks for"),
        ({"front_end": "mfcc 13 bands"}, {}, "heard another front end (mfcc 13 bands)"),
    ],
    ids=[
        "bad_id",
        "unknown",
        "running",
        "failed",
        "not_a_train_job",
        "no_checkpoint",
        "checkpoint_gone",
        "other_architecture",
        "other_window",
        "other_network",
        "other_front_end",
    ],
)
def test_a_base_job_that_cannot_be_fine_tuned_is_422_saying_why_and_makes_no_job(
    client: TestClient, settings: Settings, ready: str, base: Any, overrides: dict, named: str
) -> None:
    if base == "unknown":
        job_id = str(uuid.uuid4())
    elif isinstance(base, dict):
        job_id = base_job(settings, **base)
    else:
        job_id = base
    before = client.get("/jobs").json()["total"]

    response = client.post("/train", json={"dataset": ready, "config_overrides": {"base_job": job_id, **overrides}})

    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]
    assert client.get("/jobs").json()["total"] == before


def test_a_base_job_from_before_the_streaming_network_is_fine_tuned_as_the_windowed_model_it_is(
    client: TestClient, settings: Settings, ready: str
) -> None:
    legacy = config_to_dict(TrainingConfig(preset="tiny", architecture="windowed", epochs=6))
    del legacy["architecture"]  # stored before the setting existed
    job_id = base_job(settings, config=legacy)

    response = client.post("/train", json={"dataset": ready, "config_overrides": {"base_job": job_id}})

    assert response.status_code == 202, response.text
    assert (response.json()["config"]["architecture"], response.json()["config"]["window_s"]) == ("windowed", 1.0)


def test_a_named_preset_of_another_size_than_the_base_is_422(
    client: TestClient, settings: Settings, ready: str
) -> None:
    job_id = base_job(settings)
    response = client.post(
        "/train", json={"dataset": ready, "preset": "small", "config_overrides": {"base_job": job_id}}
    )
    assert response.status_code == 422
    assert "preset='tiny'" in response.json()["detail"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_finetune_through_the_api_keeps_the_bases_config_and_says_where_it_started(
    client: TestClient, ready: str
) -> None:
    base = wait_for_job(client, client.post("/train", json={"dataset": ready, **QUICK}).json()["id"], timeout=180)
    assert base["status"] == "succeeded", base
    add_clips(client, ready, 6, label="positive", seed=300, source="recording", speaker="me")

    queued = client.post("/train", json={"dataset": ready, "config_overrides": {"base_job": base["id"]}})

    assert queued.status_code == 202, queued.text
    config = queued.json()["config"]
    # Not the defaults (small, 30 x 50): the base's own settings, with the base named.
    assert (config["preset"], config["epochs"], config["steps_per_epoch"]) == ("tiny", 3, 3)
    assert config["base_job"] == base["id"]
    done = wait_for_job(client, queued.json()["id"], timeout=180)
    assert done["status"] == "succeeded", done
    assert done["metrics"]["fine_tuned_from"] == base["id"]
    assert done["progress"]["total_steps"] == 3  # a third of the base's 3 epochs, of 3 steps each
    logs = [e["message"] for e in client.get(f"/jobs/{done['id']}/logs").json()["items"]]
    assert any(m.startswith(f"fine-tuning the model of job {base['id']}") for m in logs)
