"""`wake-edge run`: a followed deployment on a stream, its actions, and reports that never hold the audio up."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.edge_fake_api import DEVICE_TOKEN, FakeApi
from tests.test_detect import BURST_AT_S, loudness_model, quiet_noise, with_burst, write_wav
from wake_edge.api_client import ApiClient
from wake_edge.reporter import Report, Reporter
from wake_edge.runner import RunOptions, run_device
from wake_edge.sources import stdin_blocks, wav_blocks

pytestmark = pytest.mark.unit

RATE = 16_000
NEAR_MISS_AT_S = 7.0


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi().up()
    yield fake
    fake.down()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return loudness_model(tmp_path / "export" / "model.onnx")


@pytest.fixture
def wake_wav(tmp_path: Path) -> Path:
    """The wake word (a tone burst) at 4 s, and something close to it at 7 s."""
    audio = with_burst(quiet_noise(10))
    start, length = round(NEAR_MISS_AT_S * RATE), round(0.5 * RATE)
    audio[start : start + length] += 0.27 * np.sin(2 * np.pi * 1_000 * np.arange(length) / RATE)
    return write_wav(tmp_path / "wake.wav", audio)


def options(api: FakeApi, tmp_path: Path, **fields) -> RunOptions:
    values = {"token": DEVICE_TOKEN, "state_dir": tmp_path / "state", "poll_s": 0.2, **fields}
    return RunOptions(server=api.url, deployment="kitchen", **values)


def wait_for(condition, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_detection_is_printed_and_reported_with_the_audio_around_its_window(
    api: FakeApi, model: Path, wake_wav: Path, tmp_path: Path
) -> None:
    published = api.publish("kitchen", model, threshold=0.5)
    lines: list[str] = []

    status = run_device(options(api, tmp_path), lambda: wav_blocks(wake_wav), echo=lines.append)

    assert status == 0
    assert len(lines) == 1 and lines[0].endswith("kitchen v1")
    assert abs(float(lines[0].split("s")[0]) - BURST_AT_S) <= 0.5
    assert [report["kind"] for report in api.reports] == ["detection", "near_miss"]
    detection, near_miss = api.reports
    assert detection["model_sha256"] == published.sha256 and detection["version"] == "1"
    assert float(detection["score"]) >= float(detection["threshold"]) == 0.5
    assert 0.35 <= float(near_miss["score"]) < 0.5
    assert datetime.fromisoformat(detection["at"]).tzinfo is not None
    audio, rate = sf.read(io.BytesIO(detection["audio"]), dtype="float32")
    assert rate == RATE and audio.ndim == 1
    # 1 s before the 0.5 s window to 1 s after it, with the burst inside.
    assert len(audio) == round(2.5 * RATE)
    assert np.abs(audio).max() > 0.4


@pytest.mark.parametrize("where", ["flag", "manifest"])
def test_reports_carry_no_audio_without_consent_or_with_no_report_audio(
    api: FakeApi, model: Path, wake_wav: Path, tmp_path: Path, where: str
) -> None:
    api.publish("kitchen", model, report_audio=where != "manifest")

    run_device(options(api, tmp_path, report_audio=where != "flag"), lambda: wav_blocks(wake_wav), echo=print)

    assert [report["kind"] for report in api.reports] == ["detection", "near_miss"]
    assert all("audio" not in report for report in api.reports)


def test_with_an_admin_token_nothing_is_reported(api: FakeApi, model: Path, wake_wav: Path, tmp_path: Path) -> None:
    api.token = "admin-secret"
    api.publish("kitchen", model)
    lines: list[str] = []

    run_device(options(api, tmp_path, token="admin-secret"), lambda: wav_blocks(wake_wav), echo=lines.append)

    assert len(lines) == 1 and api.reports == []


def test_a_device_with_the_server_down_runs_on_its_last_good_bundle(
    api: FakeApi, model: Path, wake_wav: Path, tmp_path: Path
) -> None:
    api.publish("kitchen", model)
    run_device(options(api, tmp_path), lambda: wav_blocks(wake_wav), echo=print)
    api.down()
    lines: list[str] = []

    status = run_device(options(api, tmp_path, flush_s=0.5), lambda: wav_blocks(wake_wav), echo=lines.append)

    assert status == 0 and len(lines) == 1 and lines[0].endswith("kitchen v1")


def test_stdin_pcm16_is_read_as_the_same_stream(api: FakeApi, model: Path, wake_wav: Path, tmp_path: Path) -> None:
    api.publish("kitchen", model)
    pcm = (sf.read(str(wake_wav), dtype="int16")[0]).astype("<i2").tobytes()
    from_wav: list[str] = []
    from_stdin: list[str] = []

    run_device(options(api, tmp_path), lambda: wav_blocks(wake_wav), echo=from_wav.append)
    run_device(options(api, tmp_path), lambda: stdin_blocks(io.BytesIO(pcm), block=999), echo=from_stdin.append)

    assert from_stdin == from_wav and len(from_wav) == 1


def test_a_detection_runs_the_command_with_wake_variables_and_posts_the_webhook(
    api: FakeApi, model: Path, wake_wav: Path, tmp_path: Path
) -> None:
    api.publish("kitchen", model)
    out = tmp_path / "fired.env"
    command = f"env | grep ^WAKE_ | sort > {out}.part && mv {out}.part {out}"

    run_device(
        options(api, tmp_path, command=command, webhook=f"{api.url}/hook"), lambda: wav_blocks(wake_wav), echo=print
    )

    wait_for(out.exists)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["WAKE_DEPLOYMENT"] == "kitchen" and 0.5 <= float(env["WAKE_SCORE"]) <= 1.0
    assert datetime.fromisoformat(env["WAKE_TIME"]).tzinfo is not None
    assert abs(float(env["WAKE_STREAM_S"]) - BURST_AT_S) <= 0.5
    assert len(api.webhooks) == 1
    assert api.webhooks[0]["deployment"] == "kitchen" and api.webhooks[0]["version"] == 1


def report(kind: str = "detection") -> Report:
    return Report(kind, 0.9, 0.5, datetime.now(UTC), "a" * 64, 1, np.zeros(RATE, dtype=np.float32))


def test_a_report_made_while_the_server_is_down_is_sent_when_it_is_back(api: FakeApi) -> None:
    api.down()
    reporter = Reporter(ApiClient(api.url, DEVICE_TOKEN))

    assert reporter.submit(report()) is True
    api.up()

    wait_for(lambda: len(api.reports) == 1)
    assert reporter.close(5)
    assert api.reports[0]["kind"] == "detection" and len(api.reports[0]["audio"]) > RATE


def test_a_full_report_queue_drops_new_reports_instead_of_waiting(api: FakeApi) -> None:
    api.down()
    reporter = Reporter(ApiClient(api.url, DEVICE_TOKEN), maxsize=3)

    accepted = [reporter.submit(report()) for _ in range(10)]

    # Three wait in the queue and one more may be with the thread retrying it: the rest are dropped at once.
    assert accepted[:3] == [True, True, True] and sum(accepted) <= 4
    reporter.close(0.5)


def test_near_misses_are_limited_to_ten_an_hour_on_the_device(api: FakeApi) -> None:
    now = [0.0]
    reporter = Reporter(ApiClient(api.url, DEVICE_TOKEN), clock=lambda: now[0])

    first_hour = [reporter.submit(report("near_miss")) for _ in range(12)]
    detections = [reporter.submit(report("detection")) for _ in range(3)]
    now[0] = 3_600.0
    next_hour = reporter.submit(report("near_miss"))
    assert reporter.close(10)

    assert first_hour == [True] * 10 + [False] * 2 and detections == [True] * 3 and next_hour is True
    assert [r["kind"] for r in api.reports].count("near_miss") == 11


def test_a_near_miss_the_server_rate_limits_is_dropped_not_retried(api: FakeApi) -> None:
    api.report_status = 429
    reporter = Reporter(ApiClient(api.url, DEVICE_TOKEN))

    reporter.submit(report("near_miss"))
    assert reporter.close(5)

    assert len(api.reports) == 1


def test_the_run_and_detect_commands_print_the_detection(
    api: FakeApi, model: Path, wake_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wake_edge.cli import main

    api.publish("kitchen", model)
    state = str(tmp_path / "state")
    run = ["run", "--server", api.url, "--deployment", "kitchen", "--token", DEVICE_TOKEN, "--state-dir", state]

    assert main([*run, "--wav", str(wake_wav), "--no-report-audio"]) == 0
    ran = capsys.readouterr().out.splitlines()
    assert main(["detect", str(tmp_path / "state" / "kitchen"), str(wake_wav)]) == 0
    detected = capsys.readouterr().out.splitlines()

    assert len(ran) == 1 and ran[0].endswith("kitchen v1")
    assert detected[0] == ran[0]
    assert detected[1].startswith("1 detection in 10.0s of audio (threshold 0.500 from the manifest of v1")
    assert all("audio" not in report for report in api.reports) and len(api.reports) == 2
