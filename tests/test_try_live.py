"""Testing a model in the browser: a succeeded job's page runs its model.onnx with onnxruntime-web, live on the
microphone (Chromium's fake one, playing a file) and on a picked file, and counts what `wake-training detect` counts.

The model is the tone model of tests/tone_model.py: the tiny network, exported as a job exports it, firing on a
1 kHz tone. Chromium loops the fake microphone's file, so each file is long enough that a test reads the first pass
only: the tone (if any) sits early, and listening stops before the second pass reaches it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from api.dashboard.routes import STATIC_DIR
from shared.settings import Settings
from shared.storage import Storage
from tests.conftest import service_missing
from tests.processes import Server, clean_env
from tests.test_dashboard import CHROMIUM, Tab, assert_card_fits, expect, launch_chromium
from tests.tone_model import RATE, THRESHOLD, quiet, store_tone_model_job, with_tone

pytestmark = pytest.mark.e2e

ORT = STATIC_DIR / "vendor" / "ort"
# The fake microphone's file: the tone at TONE_AT_S, then quiet until PASS_S, when Chromium starts it over.
TONE_AT_S = 2.0
PASS_S = 8.0
# Listening stops after this much audio: past the first tone's detection, before the looped tone comes round again.
LISTEN_S = 6.0


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_missing("the playwright package (dev extra)", exc)
    if not Path(CHROMIUM).exists():
        service_missing(f"Chromium at {CHROMIUM}", FileNotFoundError("install it with `make browser`"))
    if not (ORT / "ort.wasm.bundle.min.mjs").exists():
        service_missing(f"onnxruntime-web in {ORT}", FileNotFoundError("run `make install` (npm)"))
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    return tmp_path / "volume"


@pytest.fixture
def server(volume: Path, tmp_path: Path) -> Iterator[Server]:
    server = Server(clean_env(WAKE_TRAINING_DATA_DIR=str(volume)), tmp_path / "serve.log")
    yield server
    server.stop()


@pytest.fixture
def job(server: Server, volume: Path) -> str:
    """A succeeded training job of dataset `tone` whose model is the tone model."""
    httpx.post(f"{server.url}/datasets", json={"name": "tone", "wake_phrase": "beep"}).raise_for_status()
    return store_tone_model_job(Settings(data_dir=volume).resolved_database_url, volume, "tone")


def write_wav(path: Path, audio: np.ndarray) -> Path:
    sf.write(str(path), audio, RATE, subtype="PCM_16")
    return path


def detect_command(model: Path, audio: Path) -> list[tuple[float, float]]:
    """What `wake-training detect MODEL FILE` prints: (time, score) of each detection."""
    cli = Path(sys.executable).with_name("wake-training")
    command = [str(cli), "detect"] if cli.exists() else [sys.executable, "-m", "worker.detect"]
    done = subprocess.run([*command, str(model), str(audio)], capture_output=True, text=True, timeout=120, check=True)
    lines = done.stdout.strip().splitlines()
    assert f"threshold {THRESHOLD:.3f} from metrics.json" in lines[-1], done.stdout
    found = [re.fullmatch(r"([\d.]+)s\s+score ([\d.]+)", line) for line in lines[:-1]]
    assert all(found), done.stdout
    return [(float(m[1]), float(m[2])) for m in found if m]


@pytest.fixture
def job_page(playwright: Any, server: Server, job: str, tmp_path: Path) -> Iterator[Any]:
    """Opens the job's page at a width in a Chromium whose microphone plays a given file (one browser per file)."""
    browsers: list[Any] = []
    tabs: list[Tab] = []
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def open_page(microphone: Path, width: int = 1280) -> Tab:
        browsers.append(launch_chromium(playwright, microphone))
        tabs.append(Tab(browsers[-1], shots, width=width))
        tabs[-1].page.goto(f"{server.url}/#/jobs/{job}")
        tabs[-1].page.get_by_role("heading", name="Test in the browser").wait_for()
        return tabs[-1]

    yield open_page
    for tab in tabs:
        tab.close()
    for browser in browsers:
        browser.close()


def panel(page: Any) -> Any:
    return page.locator("section.try-live")


def shown_detections(page: Any, mode: str) -> list[tuple[float, float]]:
    items = panel(page).locator(f".detections[data-mode={mode}] li")
    return [(float(li.get_attribute("data-time")), float(li.get_attribute("data-score"))) for li in items.all()]


def listen(page: Any, seconds: float) -> list[tuple[float, float]]:
    """Start listening, wait until `seconds` of microphone audio are scored, stop; the detections shown."""
    card = panel(page)
    card.get_by_role("button", name="Start listening").click()
    page.wait_for_function(
        "s => Number(document.querySelector('.try-status[data-mode=mic]').dataset.heard || 0) >= s",
        arg=seconds,
        timeout=60_000,
    )
    card.get_by_role("button", name="Stop listening").click()
    return shown_detections(page, "mic")


def test_the_microphone_fires_once_where_the_detect_command_does(
    job_page: Any, job: str, volume: Path, tmp_path: Path
) -> None:
    microphone = write_wav(tmp_path / "beep.wav", with_tone(quiet(PASS_S), TONE_AT_S))
    expected = detect_command(Storage(volume).job_export_dir(job) / "model.onnx", microphone)
    assert len(expected) == 1, expected

    tab = job_page(microphone)
    page = tab.page
    expect(panel(page).locator("#try-threshold")).to_have_value(str(THRESHOLD))
    found = listen(page, LISTEN_S)

    assert len(found) == 1, found
    assert abs(found[0][0] - expected[0][0]) <= 0.3, (found, expected)
    assert found[0][1] >= THRESHOLD
    expect(panel(page).locator(".detections[data-mode=mic] .detection-count")).to_have_text("1 detection")
    assert panel(page).locator("[data-chart=live] path.series").count() == 2  # the score and the threshold line
    assert_card_fits(page, panel(page), "try-live-microphone", "Test in the browser")
    assert tab.unexpected_errors() == []


def test_the_microphone_stays_quiet_on_audio_without_the_phrase(
    job_page: Any, job: str, volume: Path, tmp_path: Path
) -> None:
    microphone = write_wav(tmp_path / "quiet.wav", quiet(PASS_S, seed=3))
    assert detect_command(Storage(volume).job_export_dir(job) / "model.onnx", microphone) == []

    tab = job_page(microphone, width=390)
    page = tab.page
    # A whole pass of the file and more: whatever Chromium plays, none of it is the phrase.
    assert listen(page, PASS_S + 1.0) == []
    expect(panel(page).locator(".detections[data-mode=mic] .detection-count")).to_have_text("No detection.")
    assert tab.unexpected_errors() == []


def test_a_picked_file_shows_the_detect_commands_detections_and_the_slider_recounts_them(
    job_page: Any, job: str, volume: Path, tmp_path: Path
) -> None:
    audio = with_tone(with_tone(with_tone(quiet(12.0, seed=5), 1.0), 4.0), 7.25)
    recording = write_wav(tmp_path / "three beeps.wav", audio)
    expected = detect_command(Storage(volume).job_export_dir(job) / "model.onnx", recording)
    assert len(expected) == 3, expected

    tab = job_page(write_wav(tmp_path / "mic.wav", quiet(2.0)))
    page = tab.page
    card = panel(page)
    card.get_by_label("A sound file").set_input_files(str(recording))
    status = card.locator(".try-status[data-mode=file]")
    expect(status).to_have_text(f"three beeps.wav: 12 s, 3 detections at threshold {THRESHOLD}.", timeout=60_000)

    found = shown_detections(page, "file")
    assert [t for t, _ in found] == [t for t, _ in expected]
    assert [s for _, s in found] == pytest.approx([s for _, s in expected], abs=1e-3)
    chart = card.locator("[data-chart=file]")
    assert chart.locator("path.series").count() == 2 and chart.locator("circle.marker").count() == 3
    assert_card_fits(page, card, "try-live-file", "Test in the browser")

    # Above every score nothing fires; back at the calibrated threshold the same three do again.
    slider = card.get_by_label("Threshold")
    slider.fill("1")
    expect(status).to_have_text("three beeps.wav: 12 s, 0 detections at threshold 1.")
    assert shown_detections(page, "file") == []
    card.get_by_role("button", name="Back to the calibrated threshold").click()
    expect(status).to_contain_text("3 detections at threshold 0.5")
    assert shown_detections(page, "file") == found
    assert tab.unexpected_errors() == []
