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
import soxr

from api.dashboard.routes import STATIC_DIR
from shared.settings import Settings
from shared.storage import Storage
from tests.conftest import service_missing
from tests.processes import Server, clean_env
from tests.test_dashboard import CHROMIUM, SCREENSHOTS, Tab, assert_card_fits, expect, launch_chromium
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
def chromium(playwright: Any, tmp_path: Path) -> Iterator[Any]:
    """Opens a tab at a width in a Chromium whose microphone plays a given file (one browser per file)."""
    browsers: list[Any] = []
    tabs: list[Tab] = []
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def open_tab(microphone: Path, width: int = 1280) -> Tab:
        browsers.append(launch_chromium(playwright, microphone))
        tabs.append(Tab(browsers[-1], shots, width=width))
        return tabs[-1]

    yield open_tab
    for tab in tabs:
        tab.close()
    for browser in browsers:
        browser.close()


@pytest.fixture
def job_page(chromium: Any, server: Server, job: str) -> Any:
    """Opens the tone job's page, its microphone playing a given file."""

    def open_page(microphone: Path, width: int = 1280) -> Tab:
        tab = chromium(microphone, width)
        tab.page.goto(f"{server.url}/#/jobs/{job}")
        tab.page.get_by_role("heading", name="Test in the browser").wait_for()
        return tab

    return open_page


def panel(page: Any) -> Any:
    return page.locator("section.try-live")


def shown_detections(page: Any, mode: str) -> list[tuple[float, float]]:
    items = panel(page).locator(f".detections[data-mode={mode}] li")
    return [(float(li.get_attribute("data-time")), float(li.get_attribute("data-score"))) for li in items.all()]


def listen(page: Any, seconds: float, *, while_listening: Any = None) -> list[tuple[float, float]]:
    """Start listening, wait until `seconds` of microphone audio are scored, stop; the detections shown."""
    card = panel(page)
    card.get_by_role("button", name="Start listening").click()
    if while_listening:
        while_listening(card)
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

    def on_first_detection(card: Any) -> None:
        card.locator(".detections[data-mode=mic] li").first.wait_for(timeout=30_000)
        expect(card.locator(".try-status[data-mode=mic]")).to_contain_text("Listening: ")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        card.screenshot(path=str(SCREENSHOTS / "try-live-listening-1280.png"))

    found = listen(page, LISTEN_S, while_listening=on_first_detection)

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

    # The same audio at 44.1 kHz in stereo: the browser resamples and mixes it down as the command does.
    stereo = tmp_path / "three beeps, stereo.wav"
    at_44k = soxr.resample(audio, RATE, 44_100).astype(np.float32)
    sf.write(str(stereo), np.stack([at_44k, at_44k], axis=1), 44_100, subtype="PCM_16")
    expected = detect_command(Storage(volume).job_export_dir(job) / "model.onnx", stereo)
    card.get_by_label("A sound file").set_input_files(str(stereo))
    expect(status).to_contain_text("three beeps, stereo.wav: 12 s, 3 detections", timeout=60_000)
    assert [t for t, _ in shown_detections(page, "file")] == [t for t, _ in expected]
    assert tab.unexpected_errors() == []


def test_without_onnxruntime_web_on_the_server_the_panel_says_what_to_run(job_page: Any, tmp_path: Path) -> None:
    tab = job_page(write_wav(tmp_path / "mic.wav", quiet(2.0)))
    page = tab.page
    page.route("**/vendor/ort/**", lambda route: route.fulfill(status=404, body="not found"))

    panel(page).get_by_role("button", name="Start listening").click()

    status = panel(page).locator(".try-status[data-mode=mic]")
    expect(status).to_contain_text("onnxruntime-web is not installed on this server (run make install there)")
    expect(panel(page).get_by_role("button", name="Start listening")).to_be_enabled()
    assert tab.unexpected_errors(allowed_statuses={404}) == []


# A 48 kHz context whose worklet hands on 16 kHz blocks: what the panel falls back to where a browser will not open
# its context at 16 kHz. One second of an oscillator at `freq`, rendered offline; the blocks the worklet posted.
WORKLET_AT_48_KHZ = """async (freq) => {
  const context = new OfflineAudioContext(1, 48000, 48000);
  await context.audioWorklet.addModule("/js/recorder-worklet.js");
  const node = new AudioWorkletNode(context, "capture", { processorOptions: { rate: 16000 } });
  const blocks = [];
  node.port.onmessage = (event) => blocks.push(event.data);
  const oscillator = new OscillatorNode(context, { frequency: freq });
  oscillator.connect(node).connect(context.destination);
  oscillator.start();
  await context.startRendering();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const samples = blocks.flatMap((block) => Array.from(block));
  return samples;
}"""


def test_a_microphone_at_48_khz_reaches_the_model_at_16_khz_without_aliasing(
    chromium: Any, server: Server, tmp_path: Path
) -> None:
    tab = chromium(write_wav(tmp_path / "mic.wav", quiet(1.0)))
    page = tab.page
    page.goto(f"{server.url}/")

    heard = np.array(page.evaluate(WORKLET_AT_48_KHZ, 1_000))
    folded = np.array(page.evaluate(WORKLET_AT_48_KHZ, 12_000))

    assert abs(len(heard) - RATE) <= 128, len(heard)
    steady = heard[RATE // 10 :]  # past the filter's start
    crossings = np.count_nonzero(np.diff(np.signbit(steady).astype(int)))
    assert crossings / (len(steady) / RATE) == pytest.approx(2 * 1_000, rel=0.01)  # still 1 kHz
    assert np.sqrt(np.mean(steady**2)) == pytest.approx(np.sqrt(0.5), rel=0.05)  # at its full level
    # 12 kHz is above 16 kHz audio's 8 kHz Nyquist: unfiltered it would come back as a loud 4 kHz tone.
    assert np.sqrt(np.mean(folded[RATE // 10 :] ** 2)) < 0.01
    assert tab.unexpected_errors() == []
