"""The edge runtime follows a deployment: ETag polls, verified atomic installs, refusals keeping the last good model."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.edge_fake_api import DEVICE_TOKEN, FakeApi
from tests.test_detect import loudness_model
from wake_edge.api_client import ApiClient
from wake_edge.bundle import BundleStore
from wake_edge.detector import Scorer, StreamDetector
from wake_edge.follower import Follower

pytestmark = pytest.mark.unit


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi().up()
    yield fake
    fake.down()


@pytest.fixture
def model_bytes(tmp_path: Path) -> bytes:
    return loudness_model(tmp_path / "models" / "model.onnx").read_bytes()


def follower(api: FakeApi, state: Path, **kwargs) -> Follower:
    store = BundleStore(state, "kitchen")
    return Follower(ApiClient(api.url, DEVICE_TOKEN), store, "kitchen", current=store.current(), **kwargs)


def test_a_first_poll_installs_the_bundle_and_a_second_gets_304_without_downloading(
    api: FakeApi, model_bytes: bytes, tmp_path: Path
) -> None:
    published = api.publish("kitchen", model_bytes, threshold=0.6)
    edge = follower(api, tmp_path / "state")

    installed = edge.poll_once()
    again = edge.poll_once()

    assert installed is not None and installed.manifest.version == 1
    assert installed.manifest.threshold == 0.6 and installed.model.window_samples == 8_000
    folder = tmp_path / "state" / "kitchen"
    current = folder / (folder / "current").read_text()
    assert (current / "model.onnx").read_bytes() == model_bytes
    assert json.loads((current / "manifest.json").read_text())["model"]["sha256"] == published.sha256
    assert again is None
    first, second = api.polls("kitchen")
    assert (first.status, second.status) == (200, 304)
    assert "if-none-match" not in first.headers and second.headers["if-none-match"].startswith('"')
    assert api.model_downloads() == 1


def test_each_poll_tells_the_server_the_running_version_and_model(
    api: FakeApi, model_bytes: bytes, tmp_path: Path
) -> None:
    published = api.publish("kitchen", model_bytes)
    edge = follower(api, tmp_path / "state")

    edge.poll_once()
    edge.poll_once()

    first, second = api.polls("kitchen")
    assert "x-wake-edge-version" not in first.headers  # nothing running yet
    assert second.headers["x-wake-edge-version"] == "1"
    assert second.headers["x-wake-edge-model-sha256"] == published.sha256
    assert second.headers["authorization"] == f"Bearer {DEVICE_TOKEN}"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("wrong_sha256", "sha256 mismatch"),
        ("truncated", "size mismatch"),
        ("not_onnx", "not a usable ONNX model"),
    ],
)
def test_a_bad_bundle_is_refused_with_one_clear_line_and_the_old_model_keeps_running(
    api: FakeApi, model_bytes: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture, fault: str, reason: str
) -> None:
    api.publish("kitchen", model_bytes)
    edge = follower(api, tmp_path / "state")
    good = edge.poll_once()
    assert good is not None
    detector = StreamDetector(Scorer.from_bundle(good))
    edge.on_bundle = lambda bundle: detector.swap(Scorer.from_bundle(bundle))
    newer = loudness_model(tmp_path / "newer" / "model.onnx", samples=4_000).read_bytes()
    if fault == "wrong_sha256":
        api.publish("kitchen", newer, served=newer[:-4] + b"\x00\x00\x00\x00")
    elif fault == "truncated":
        api.publish("kitchen", newer, served=newer[: len(newer) // 2])
    else:
        api.publish("kitchen", b"this is not an onnx model at all" * 8)

    with caplog.at_level(logging.WARNING, logger="wake_edge"):
        delay = edge.step()

    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused bundle v2 of kitchen")]
    assert len(refusals) == 1, caplog.text
    assert reason in refusals[0] and refusals[0].endswith("; keeping v1")
    assert edge.current is good and delay > edge.poll_s
    detector.feed(np.zeros(16_000, dtype=np.float32))
    assert detector.scorer.version == 1
    restarted = BundleStore(tmp_path / "state", "kitchen").current()
    assert restarted is not None and restarted.manifest.version == 1
    assert not list((tmp_path / "state" / "kitchen").glob(".download-*")), "the refused download is left behind"


def test_while_the_server_is_down_polls_back_off_to_60_s_and_the_last_good_model_stays(
    api: FakeApi, model_bytes: bytes, tmp_path: Path
) -> None:
    api.publish("kitchen", model_bytes)
    edge = follower(api, tmp_path / "state", poll_s=5.0)
    edge.poll_once()
    api.down()

    delays = [edge.step() for _ in range(6)]

    assert delays == [10.0, 20.0, 40.0, 60.0, 60.0, 60.0]
    assert edge.current is not None and edge.current.manifest.version == 1
    api.up()
    api.publish("kitchen", model_bytes, threshold=0.7)
    assert edge.step() == 5.0
    assert edge.current.manifest.version == 2


def test_a_device_restarted_with_the_server_down_runs_its_last_good_bundle(
    api: FakeApi, model_bytes: bytes, tmp_path: Path
) -> None:
    api.publish("kitchen", model_bytes)
    follower(api, tmp_path / "state").poll_once()
    api.down()

    edge = follower(api, tmp_path / "state")
    edge.step()

    assert edge.current is not None and edge.current.manifest.version == 1
    assert edge.current.model.check() < 0.5


def test_a_threshold_change_installs_a_new_version_without_downloading_the_model_again(
    api: FakeApi, model_bytes: bytes, tmp_path: Path
) -> None:
    api.publish("kitchen", model_bytes, threshold=0.5)
    edge = follower(api, tmp_path / "state")
    edge.poll_once()
    api.publish("kitchen", model_bytes, threshold=0.8)

    installed = edge.poll_once()

    assert installed is not None and installed.manifest.version == 2 and installed.manifest.threshold == 0.8
    assert api.model_downloads() == 1


def test_the_store_keeps_the_current_and_the_previous_bundle_only(
    api: FakeApi, tmp_path: Path, model_bytes: bytes
) -> None:
    edge = follower(api, tmp_path / "state")
    for samples in (8_000, 12_000, 4_000):
        api.publish("kitchen", loudness_model(tmp_path / f"m{samples}" / "model.onnx", samples=samples).read_bytes())
        edge.poll_once()

    folder = tmp_path / "state" / "kitchen"
    versions = sorted(path.name.split("-")[0] for path in folder.iterdir() if path.is_dir())
    assert versions == ["v2", "v3"]
    assert (folder / "current").read_text().startswith("v3-")
    assert (folder / "previous").read_text().startswith("v2-")


def test_a_current_bundle_damaged_on_disk_falls_back_to_the_previous_one(
    api: FakeApi, model_bytes: bytes, tmp_path: Path
) -> None:
    edge = follower(api, tmp_path / "state")
    api.publish("kitchen", model_bytes, threshold=0.5)
    edge.poll_once()
    api.publish("kitchen", loudness_model(tmp_path / "other" / "model.onnx", samples=4_000).read_bytes())
    edge.poll_once()
    folder = tmp_path / "state" / "kitchen"
    (folder / (folder / "current").read_text() / "model.onnx").write_bytes(b"rotten")

    bundle = BundleStore(tmp_path / "state", "kitchen").current()

    assert bundle is not None and bundle.manifest.version == 1
