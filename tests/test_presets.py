"""Training presets: the built-in ones, those WAKE_TRAINING_PRESETS adds, GET /presets, and training with one."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.validation import DATASET_NAME_RE
from shared.settings import Settings
from shared.training_config import (
    BUILT_IN_PRESETS,
    PRESET_NAME_RE,
    PresetError,
    check_budget,
    config_to_dict,
    load_presets,
    resolve_config,
)
from tests.conftest import add_clips, create_dataset, wait_for_job
from tests.processes import CLI, clean_env

LIMITS = {"max_batch_audio_s": 256.0, "max_training_audio_h": 200.0}
# A preset small enough to train in seconds: the tests watch a worker use it, not a good model.
NIGHT = {
    "description": "The tiny model for two steps: a smoke test of a preset from the environment.",
    "config": {"preset": "tiny", "epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "background_speech_s": 0},
}
NIGHT_TOML = """
[night]
description = "The tiny model for two steps: a smoke test of a preset from the environment."

[night.config]
preset = "tiny"
epochs = 1
steps_per_epoch = 2
batch_size = 8
background_speech_s = 0
"""


def test_built_in_presets_have_one_line_descriptions_and_fit_the_default_limits() -> None:
    assert list(BUILT_IN_PRESETS) == ["tiny", "small", "base", "quick", "windowed", "thorough"]
    for preset in BUILT_IN_PRESETS.values():
        assert preset.source == "built-in"
        assert preset.description and "\n" not in preset.description and len(preset.description) <= 200
        check_budget(resolve_config(preset.name, None), **LIMITS)
    thorough, default = resolve_config("thorough", None), resolve_config(None, None)
    assert thorough.preset == "base"
    windowed = resolve_config("windowed", None)
    assert (windowed.architecture, windowed.window_s) == ("windowed", 1.0)
    assert (default.architecture, default.window_s) == ("streaming", 1.5)
    assert thorough.epochs * thorough.steps_per_epoch >= 4 * default.epochs * default.steps_per_epoch


def test_preset_names_follow_the_dataset_name_rule() -> None:
    assert PRESET_NAME_RE.pattern == DATASET_NAME_RE.pattern


@pytest.mark.parametrize("form", ["json_value", "json_file", "toml_file"])
def test_presets_load_from_a_json_value_a_json_file_or_a_toml_file(form: str, tmp_path: Path) -> None:
    value = json.dumps({"night": NIGHT})
    if form == "json_file":
        (path := tmp_path / "presets.json").write_text(value)
        value = str(path)
    elif form == "toml_file":
        (path := tmp_path / "presets.toml").write_text(NIGHT_TOML)
        value = str(path)

    presets = load_presets(value, **LIMITS)

    assert list(presets) == [*BUILT_IN_PRESETS, "night"]
    night = presets["night"]
    assert (night.source, night.description) == ("environment", NIGHT["description"])
    assert resolve_config("night", None, presets) == resolve_config(None, NIGHT["config"])


def test_an_environment_preset_named_like_a_built_in_replaces_it_in_place() -> None:
    value = json.dumps({"quick": {"description": "Our quick.", "config": {"epochs": 2}}})
    presets = load_presets(value, **LIMITS)
    assert list(presets) == list(BUILT_IN_PRESETS)
    assert presets["quick"].source == "environment"
    assert resolve_config("quick", None, presets).epochs == 2
    assert resolve_config("quick", None, presets).preset == "small"  # from the defaults, not the built-in quick


def test_no_setting_or_an_empty_one_gives_the_built_ins() -> None:
    assert load_presets(None, **LIMITS) == BUILT_IN_PRESETS
    assert load_presets("  ", **LIMITS) == BUILT_IN_PRESETS


GOOD = NIGHT["config"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"night": {"description": "d", "config": {"epochz": 3}}}, "preset 'night': unknown config override 'epochz'"),
        (
            {"night": {"description": "d", "config": {"epochs": 0}}},
            "preset 'night': bad config override: Expected `int` >= 1 - at `$.epochs`",
        ),
        (
            {"night": {"description": "d", "config": {"preset": "huge"}}},
            "preset 'night': bad config override: Invalid enum value 'huge' - at `$.preset`",
        ),
        (
            {"night": {"description": "d", "config": {"epochs": 500, "steps_per_epoch": 100_000}}},
            "preset 'night': epochs x steps_per_epoch",
        ),
        ({"Night Run": {"description": "d", "config": GOOD}}, "invalid preset name 'Night Run': use 1-64 characters"),
        ({"night": {"config": GOOD}}, "preset 'night': field 'description' is missing"),
        ({"night": {"description": "  ", "config": GOOD}}, "preset 'night': field 'description' is missing"),
        (
            {"night": {"description": "two\nlines", "config": GOOD}},
            "preset 'night': field 'description' must be one line",
        ),
        ({"night": {"description": "d"}}, "preset 'night': field 'config' must be an object"),
        ({"night": {"description": "d", "config": GOOD, "confg": {}}}, "preset 'night': unknown field 'confg'"),
        ({"night": "tiny"}, "preset 'night': must be an object with a 'description' and a 'config'"),
        ('{"night": {"description": "d",', "the value is not valid JSON: Expecting property name"),
        ('["night"]', "the value must be an object of presets by name"),
        ("presets.yaml", "'presets.yaml' is neither a JSON object nor the path of a .json or .toml file"),
    ],
    ids=[
        "unknown_config_field",
        "bad_value",
        "bad_model_size",
        "over_the_work_limit",
        "bad_name",
        "missing_description",
        "blank_description",
        "two_line_description",
        "missing_config",
        "unknown_preset_field",
        "not_an_object",
        "bad_json",
        "not_an_object_of_presets",
        "not_json_nor_a_known_file",
    ],
)
def test_a_bad_presets_setting_is_refused_in_one_line_naming_the_preset_and_field(
    value: dict | str, message: str
) -> None:
    with pytest.raises(PresetError) as refused:
        load_presets(value if isinstance(value, str) else json.dumps(value), **LIMITS)
    text = str(refused.value)
    assert text.startswith("WAKE_TRAINING_PRESETS: ") and message in text
    assert "\n" not in text


def test_an_unreadable_or_broken_presets_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    cases = {
        tmp_path / "missing.toml": (None, "cannot read {path}: No such file or directory"),
        tmp_path / "folder.json": ("folder", "cannot read {path}: Is a directory"),
        tmp_path / "broken.toml": ('[night]\ndescription = "d\n', "{path} is not valid TOML: "),
        tmp_path / "broken.json": ('{"night": ', "{path} is not valid JSON: "),
        tmp_path / "binary.json": (b"\xff\xfe{", "cannot read {path}: it is not UTF-8 text"),
    }
    for path, (content, message) in cases.items():
        if content == "folder":
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content)
        with pytest.raises(PresetError) as refused:
            load_presets(str(path), **LIMITS)
        assert str(refused.value).startswith(f"WAKE_TRAINING_PRESETS: {message.format(path=path)}"), path
        assert "\n" not in str(refused.value)


def test_the_setting_is_read_from_wake_training_presets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WAKE_TRAINING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAKE_TRAINING_PRESETS", json.dumps({"night": NIGHT}))
    assert Settings().training_presets()["night"].source == "environment"


def test_the_app_refuses_to_start_with_a_bad_preset(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, presets=json.dumps({"night": {"description": "d", "config": {"epochs": 0}}}))
    with pytest.raises(PresetError, match=r"preset 'night': .*\$\.epochs"):
        create_app(settings)


def test_serve_and_worker_refuse_to_start_with_a_bad_preset_in_one_line(tmp_path: Path) -> None:
    env = clean_env(
        WAKE_TRAINING_DATA_DIR=str(tmp_path / "volume"),
        WAKE_TRAINING_PRESETS=json.dumps({"night": {"description": "d", "config": {"epochz": 3}}}),
    )
    serve = subprocess.run([CLI, "serve"], env=env, capture_output=True, text=True, timeout=60)
    # The worker refuses before it reaches the broker: nothing need listen there.
    worker_env = {**env, "WAKE_TRAINING_BROKER_URL": "redis://127.0.0.1:1/0"}
    worker = subprocess.run([CLI, "worker"], env=worker_env, capture_output=True, text=True, timeout=60)

    for command in (serve, worker):
        assert command.returncode == 1
        assert command.stderr.startswith(
            "Error: WAKE_TRAINING_PRESETS: preset 'night': unknown config override 'epochz'"
        )
        assert command.stderr.count("\n") == 1
    assert not (tmp_path / "volume").exists(), "serve stopped before it made the volume or the database"


@pytest.fixture
def client_with_presets(settings: Settings) -> Iterator[TestClient]:
    """The app on the test's backend with WAKE_TRAINING_PRESETS adding `night` and replacing `quick`."""
    presets = {"night": NIGHT, "quick": {"description": "Our quick: one epoch.", "config": {"epochs": 1}}}
    with TestClient(app=create_app(settings.model_copy(update={"presets": json.dumps(presets)}))) as client:
        yield client


def test_get_presets_lists_every_preset_with_its_source_and_whole_config(client_with_presets: TestClient) -> None:
    response = client_with_presets.get("/presets")

    assert response.status_code == 200
    presets = {p["name"]: p for p in response.json()}
    assert list(presets) == ["tiny", "small", "base", "quick", "windowed", "thorough", "night"]
    assert {name: p["source"] for name, p in presets.items()} == {
        "tiny": "built-in",
        "small": "built-in",
        "base": "built-in",
        "quick": "environment",
        "windowed": "built-in",
        "thorough": "built-in",
        "night": "environment",
    }
    assert presets["night"]["description"] == NIGHT["description"]
    assert presets["night"]["config"] == config_to_dict(resolve_config(None, NIGHT["config"]))
    assert presets["quick"]["config"]["epochs"] == 1
    assert presets["thorough"]["config"] == config_to_dict(resolve_config("thorough", None))


def test_training_with_an_environment_preset_trains_with_its_config(client_with_presets: TestClient) -> None:
    client = client_with_presets
    create_dataset(client, "kitchen")
    add_clips(client, "kitchen", 10, label="positive")
    add_clips(client, "kitchen", 10, label="negative", seed=100)
    night = next(p for p in client.get("/presets").json() if p["name"] == "night")

    queued = client.post("/train", json={"dataset": "kitchen", "preset": "night"})
    assert queued.status_code == 202, queued.text
    assert queued.json()["config"] == night["config"]
    job = wait_for_job(client, queued.json()["id"], timeout=60)

    assert job["status"] == "succeeded", job
    # The worker trained with what the API resolved: the exported config is the preset's (and the streaming
    # graph's contract).
    exported = client.get(f"/jobs/{job['id']}/artifacts/config.json").json()
    assert exported.pop("streaming")["onnx"] == "model.streaming.onnx"
    assert exported == night["config"]
    with_override = client.post(
        "/train", json={"dataset": "kitchen", "preset": "night", "config_overrides": {"seed": 3}}
    )
    assert with_override.json()["config"] == {**night["config"], "seed": 3}
    client.post(f"/jobs/{with_override.json()['id']}/cancel")


def test_training_with_an_unknown_preset_is_422_naming_the_presets_there_are(client_with_presets: TestClient) -> None:
    create_dataset(client_with_presets, "kitchen")
    response = client_with_presets.post("/train", json={"dataset": "kitchen", "preset": "nightly"})
    assert response.status_code == 422
    assert (
        response.json()["detail"]
        == "unknown preset 'nightly'; use one of: tiny, small, base, quick, windowed, thorough, night"
    )
