"""The dashboard in a real headless Chromium against a real `wake-training serve`: the user's whole path."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api.dashboard.routes import STATIC_DIR
from tests.audio_factory import encode, tone, wav_bytes
from tests.conftest import service_missing
from tests.processes import Server, clean_env, free_port

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("WAKE_TRAINING_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "dashboard"
# A tiny model and few steps: the test watches a real training run, not a good one.
TINY_TRAINING = {"preset": "tiny", "epochs": "3", "steps_per_epoch": "4", "batch_size": "8"}
# Network-level failures Chromium logs by itself when the API answers 4xx; the bad-input test expects these.
RESOURCE_STATUS = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})")


def speech_like(seconds: float = 3.3, rate: int = 48_000) -> np.ndarray:
    """A voiced, syllable-shaped signal for the fake microphone: harmonics under a 4 Hz envelope, with noise."""
    t = np.arange(round(seconds * rate)) / rate
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((180.0, 360.0, 540.0, 900.0), start=1))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t)) ** 2 / 2
    noise = 0.01 * np.random.default_rng(7).standard_normal(t.size)
    return (0.25 * voice * envelope + noise).astype(np.float32)[:, None]


@pytest.fixture(scope="module")
def fake_microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The WAV file Chromium plays as its microphone (looped)."""
    path = tmp_path_factory.mktemp("microphone") / "voice.wav"
    path.write_bytes(encode(speech_like(), 48_000))
    return path


@pytest.fixture(scope="module")
def browser(fake_microphone: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright, with a fake microphone; never a downloaded browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_missing("the playwright package (dev extra)", exc)
    if not Path(CHROMIUM).exists():
        service_missing(f"Chromium at {CHROMIUM}", FileNotFoundError("install it with `make browser`"))
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, fake_microphone)
        yield browser
        browser.close()


def launch_chromium(playwright: Any, microphone: Path) -> Any:
    """Debian's Chromium, headless, whose microphone plays `microphone` (a WAV file, looped) as soon as it opens."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )


class Tab:
    """One browser page that remembers every console error and page error, and saves screenshots."""

    def __init__(self, browser: Any, shots: Path, *, width: int = 1280, height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height}, reduced_motion="reduce")
        self.context.grant_permissions(["microphone"])
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.shots = shots
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def screenshot(self, name: str) -> Path:
        """Save a full-page PNG under the test's folder and test-artifacts/dashboard/ (for people to look at)."""
        path = self.shots / f"{name}.png"
        # From the top, so that the notices (fixed to the window) sit over the header, not over the content.
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path), full_page=True)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)
        return path

    def unexpected_errors(self, allowed_statuses: set[int] = frozenset()) -> list[str]:
        """Console and page errors, less Chromium's own report of an expected 4xx answer."""
        return [
            e
            for e in self.errors
            if not ((m := RESOURCE_STATUS.match(e.removeprefix("console: "))) and int(m.group(1)) in allowed_statuses)
        ]

    def close(self) -> None:
        """Close the page (and its event streams, which a stopping server would otherwise wait for)."""
        if self.context is not None:
            self.context.close()
            self.context = None


@pytest.fixture
def tab(browser: Any, tmp_path: Path) -> Iterator[Tab]:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    tab = Tab(browser, shots)
    yield tab
    tab.close()


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """`wake-training serve` as `make run` starts it: embedded, SQLite, the training worker in-process.

    A test parametrizes it (indirect) with more settings, e.g. `{"WAKE_TRAINING_PRESETS": ...}`.
    """
    more: dict[str, str] = getattr(request, "param", {})
    server = Server(clean_env(WAKE_TRAINING_DATA_DIR=str(tmp_path / "volume"), **more), tmp_path / "serve.log")
    yield server
    server.stop()


def clip_files(folder: Path, label: str, count: int, freq: float) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{label}-{i:02d}.wav"
        path.write_bytes(encode(tone(1.0, freq=freq, seed=i), 16_000))
        paths.append(str(path))
    return paths


def upload_by_file_input(page: Any, label: str, files: list[str]) -> None:
    page.get_by_label("Label", exact=True).first.select_option(label)
    page.set_input_files("#upload-files", files)
    page.get_by_text(f"Stored {len(files)} {label} clips.").wait_for()


def expect(locator: Any) -> Any:
    """Playwright's retrying assertions (imported late: the module loads without playwright installed)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def clip_rows(page: Any) -> Any:
    return page.locator("table.clips tbody tr")


def test_create_upload_train_watch_and_download_in_the_browser(server: Server, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    page.goto(f"{server.url}/")
    page.get_by_text("No datasets yet").wait_for()

    page.get_by_label("Name").fill("desk")
    page.get_by_label("Wake phrase").fill("hey desk")
    page.get_by_role("button", name="Create dataset").click()
    page.wait_for_url(re.compile(r"#/datasets/desk$"))
    upload_by_file_input(page, "positive", clip_files(tmp_path / "clips", "positive", 10, 900.0))
    upload_by_file_input(page, "negative", clip_files(tmp_path / "clips", "negative", 10, 250.0))
    page.get_by_text("Enough clips to train.").wait_for()
    expect(clip_rows(page)).to_have_count(20)
    expect(page.locator("[data-label-count=positive]")).to_have_text("positive 10")
    tab.screenshot("2-dataset")

    page.get_by_label("Preset").select_option("tiny")
    for name, value in (("Epochs", "3"), ("Steps per epoch", "4"), ("Batch size", "8")):
        page.get_by_label(name, exact=True).fill(value)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]

    bar = page.get_by_role("progressbar")
    # The bar stops part-way (an epoch done, more to go) before it is full: it advances with the events.
    page.wait_for_function(
        "() => { const v = +document.querySelector('[role=progressbar]').getAttribute('aria-valuenow');"
        " return v > 0 && v < 100; }",
        polling="raf",
        timeout=120_000,
    )
    part_way = int(bar.get_attribute("aria-valuenow"))
    page.locator(".status .badge.succeeded").wait_for(timeout=120_000)
    assert 0 < part_way < 100
    assert bar.get_attribute("aria-valuenow") == "100"
    assert page.locator("[data-chart=loss] path.series").count() >= 1
    assert page.locator("[data-chart=loss] svg circle").count() >= 3  # one point per epoch
    assert "epoch 3 of 3" in page.locator(".progress-text").inner_text()
    assert "exported" in page.locator(".logs").inner_text()

    links = page.locator("a.artifact")
    links.first.wait_for()
    names = set(links.all_inner_texts())
    assert {"model.onnx", "model.pt", "metrics.json", "manifest.json"} <= names
    # Saved under names that say which dataset and job they came from, by the link and by the API alike.
    for link in links.all():
        assert link.get_attribute("download") == f"desk-{job_id[:8]}-{link.inner_text()}"
    onnx = page.locator("a.artifact", has_text="model.onnx").get_attribute("href")
    download = page.request.get(onnx)
    assert download.status == 200 and len(download.body()) > 1000
    assert download.headers["content-disposition"] == f'attachment; filename="desk-{job_id[:8]}-model.onnx"'
    hint = page.locator(".device-hint")
    expect(hint.locator("li[data-file]")).to_have_count(4)
    # The default network's streaming graph comes first: it is what a device that listens all day should run.
    assert hint.locator("li[data-file]").first.get_attribute("data-file") == "model.streaming.onnx"
    assert "ONNX Runtime" in hint.locator("li[data-file='model.onnx']").inner_text()
    assert "ARM board" in hint.locator("li[data-file='model.int8.onnx']").inner_text()
    assert "PyTorch" in hint.locator("li[data-file='model.torchscript.pt']").inner_text()
    assert page.locator("[data-stat=threshold] dd").inner_text() != ""
    assert page.locator("[data-chart=det] path.series").count() == 1
    assert "Validation heard" in page.locator(".coverage").inner_text()
    assert_quality_in_plain_words(page, httpx.get(f"{server.url}/jobs/{job_id}").json())
    # Played a dataset from the job page, as a device would hear it: one evaluation, its figures in words.
    evaluate = page.locator("section[aria-labelledby=evaluate-title]")
    expect(evaluate.locator("select[name=dataset]")).to_have_value("desk")
    evaluate.get_by_role("button", name="Evaluate").click()
    evaluate.locator(".evaluation-sentence").wait_for(timeout=60_000)
    assert re.search(r"Missed \d+ of 10 phrases .* per hour", evaluate.locator(".evaluation-sentence").inner_text())
    expect(evaluate.locator("tr[data-evaluation]")).to_have_count(1)
    assert "succeeded" in evaluate.locator("tr[data-evaluation]").inner_text()
    tab.screenshot("3-job")

    page.get_by_role("link", name="← desk").click()
    history = page.locator(f"tr[data-job='{job_id}']")
    history.wait_for()
    assert "succeeded" in history.inner_text()
    # A dataset not ready to train has the longest Training cell: the Delete buttons still show in full.
    thin = {"name": "thin-kitchen-by-the-window", "wake_phrase": "hello there little kitchen computer"}
    httpx.post(f"{server.url}/datasets", json=thin).raise_for_status()
    page.goto(f"{server.url}/#/")
    page.locator("tr[data-dataset=desk]", has_text="ready").wait_for()
    page.locator("tr[data-dataset=thin-kitchen-by-the-window]", has_text="needs").wait_for()
    assert_not_clipped(page, page.get_by_role("button", name="Delete dataset thin-kitchen-by-the-window"))
    tab.screenshot("1-datasets")
    page.goto(f"{server.url}/#/jobs")
    page.locator(f"tr[data-job='{job_id}']").wait_for()
    tab.screenshot("4-jobs")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.url}/#/")
    page.locator("tr[data-dataset=thin-kitchen-by-the-window]").wait_for()
    # A table wider than the phone scrolls inside its card, and says so.
    expect(page.locator(".table-wrap.more-right")).to_have_count(1)
    tab.screenshot("5-datasets-phone")
    # Synthesized speakers have long names; the Speaker filter lists them and still holds to the card.
    speaker = "pico:en-US@s1.06p0.96+espeak-ng:en-gb-x-gbclan@s0.94p0.86"
    files = [("files", ("long-name.wav", wav_bytes(seed=7)))]
    fields = {"label": "negative", "speaker": speaker}
    httpx.post(f"{server.url}/datasets/desk/recordings", files=files, data=fields).raise_for_status()
    page.goto(f"{server.url}/#/datasets/desk")
    clip_rows(page).first.wait_for()
    expect(page.locator("select[name=speaker] option", has_text=speaker)).to_have_count(1)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, "nothing wider than a phone"
    clips_wrap = page.locator(".table-wrap", has=page.locator("table.clips"))
    expect(clips_wrap).to_have_class(re.compile(r"\bmore-right\b"))
    assert "scroll sideways" in clips_wrap.evaluate("el => getComputedStyle(el, '::before').content")
    clips_wrap.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    expect(clips_wrap).not_to_have_class(re.compile(r"\bmore-right\b"))
    expect(clips_wrap).to_have_class(re.compile(r"\bmore-left\b"))
    clips_wrap.evaluate("el => { el.scrollLeft = 0; }")
    tab.screenshot("5-dataset-phone")
    page.goto(f"{server.url}/#/jobs/{job_id}")
    page.locator("a.artifact").first.wait_for()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, "nothing wider than a phone"
    tab.screenshot("5-job-phone")
    assert tab.unexpected_errors() == []


def assert_quality_in_plain_words(page: Any, job: dict[str, Any]) -> None:
    """The evaluation card leads with one sentence; FRR and FA/h read alike everywhere; one metric per chart."""
    coverage = job["metrics"]["validation_coverage"]
    assert coverage["fa_per_hour_source"] == "tail prediction", "the tiny job hears too little audio to observe FA/h"
    card = page.locator("section[aria-labelledby=eval-title]")
    lead = card.locator(".quality-lead")
    # First in the card, under its heading: what to expect, the rate marked as the tail's prediction and why.
    assert card.locator("h2 + .quality-lead").count() == 1
    text = lead.inner_text()
    assert text.startswith("Expected on everyday audio: "), text
    assert re.search(r"(about 1 false wake every [^;]+|no false wakes), a prediction; misses ", text), text
    heard = re.search(r"validation had ([\d.]+) (s|min|h) of negative audio", text)
    assert heard, text
    seconds = float(heard[1]) * {"s": 1, "min": 60, "h": 3600}[heard[2]]
    assert seconds == pytest.approx(coverage["negative_audio_s"], rel=0.05), (heard[0], coverage)
    # The default target, 0.5 per hour, needs 2 hours of negative audio with no false wake to be seen at all.
    assert "target rate of 0.5 per hour takes at least 2 h" in text, text
    assert re.search(r"one false wake already counts as [\d.]+ per hour \(it woke \d+ times?\b", text), text
    # Said once: not again by a warning under the figures, nor by the coverage line.
    card_text = card.inner_text()
    assert card_text.count("of negative audio") == 1, card_text
    assert card_text.count("tail's prediction") == 1, card_text
    assert card.locator("[data-stat=fa] dt").inner_text() == "False accepts per hour (predicted)"
    fa = card.locator("[data-stat=fa] dd").inner_text()
    assert re.fullmatch(r"\d+(\.\d{1,2})?|< 0\.01", fa), fa
    assert fa == "< 0.01" or float(fa) == round(coverage["fa_per_hour"], 2), (fa, coverage)
    assert re.fullmatch(r"\d{1,3}\.\d%", card.locator("[data-stat=frr] dd").inner_text())
    # Validation heard none of the user's own takes, so the card does not pretend to say how many it misses.
    assert card.locator("[data-stat=user-frr]").count() == 0
    for key, pattern in (("val_frr", r"\d{1,3}\.\d%"), ("val_fa_per_hour", r"\d+(\.\d{1,2})?|< 0\.01")):
        assert re.fullmatch(pattern, card.locator(f"tr[data-metric={key}] td").text_content()), key
    # Per epoch: one small chart per figure, each with its own axis and a single line.
    epoch_charts = page.locator("[data-chart^=epoch-]")
    names = {c.get_attribute("data-chart") for c in epoch_charts.all()}
    assert {"epoch-val_frr", "epoch-val_fa_per_hour", "epoch-val_loss", "epoch-val_roc_auc"} <= names, names
    for chart in [page.locator("[data-chart=loss]"), *epoch_charts.all()]:
        assert chart.locator("path.series").count() == 1, chart.get_attribute("data-chart")
    frr_axis = page.locator("[data-chart=epoch-val_frr] .axis-label").all_text_contents()
    assert frr_axis == ["epoch", "missed phrases (%)"], frr_axis


def assert_not_clipped(page: Any, locator: Any) -> None:
    """The element is inside the visible part of its scrolling table box and of the window."""
    box = locator.bounding_box()
    wrap = locator.evaluate(
        "el => { const r = el.closest('.table-wrap').getBoundingClientRect(); return [r.left, r.right]; }"
    )
    width = page.viewport_size["width"]
    assert wrap[0] <= box["x"] and box["x"] + box["width"] <= min(wrap[1], width), (box, wrap)


def test_recording_with_a_fake_microphone_adds_clips_to_the_table(server: Server, tab: Tab) -> None:
    httpx.post(f"{server.url}/datasets", json={"name": "mic", "wake_phrase": "hey mic"}).raise_for_status()
    page = tab.page
    page.goto(f"{server.url}/#/datasets/mic")
    page.get_by_text("No clips yet").wait_for()
    card = page.locator("section", has=page.get_by_role("heading", name="Record in the browser"))
    card.get_by_label("Speaker").fill("alice")
    card.get_by_label("Takes").fill("2")
    card.get_by_label("Seconds per take").fill("1")
    card.get_by_role("button", name="Record 2 takes").click()
    card.get_by_text("Take 1 of 2: say “hey mic” now").wait_for()
    card.get_by_text("Done: 2 of 2 takes stored as positive.").wait_for(timeout=30_000)
    expect(page.locator("[data-col=source]")).to_have_text(["recording", "recording"])
    tab.screenshot("6-recorded")

    clips = httpx.get(f"{server.url}/datasets/mic/recordings").json()["items"]
    assert [c["speaker"] for c in clips] == ["alice", "alice"]
    assert all(c["sample_rate"] == 16_000 and c["original_sample_rate"] == 16_000 for c in clips)
    assert all(0.9 <= c["duration_s"] <= 1.1 for c in clips)
    assert all(c["loudness_dbfs"] > -40 for c in clips), "the fake microphone's voice, not silence"
    assert tab.unexpected_errors() == []


def add_tones(http: httpx.Client, dataset: str) -> None:
    """10 high tones as positives and 10 low ones as negatives, enough to train on and learned in a few epochs."""
    for label, freq in (("positive", 900.0), ("negative", 250.0)):
        files = [("files", (f"{label}-{i}.wav", encode(tone(1.0, freq=freq, seed=i), 16_000))) for i in range(10)]
        http.post(f"/datasets/{dataset}/recordings", files=files, data={"label": label}).raise_for_status()


def test_a_guided_session_records_my_voice_and_room_then_fine_tunes_the_datasets_model(
    server: Server, tab: Tab
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/datasets", json={"name": "voice", "wake_phrase": "hey jarvis"}).raise_for_status()
        add_tones(http, "voice")
    page = tab.page
    page.goto(f"{server.url}/#/datasets/voice")
    page.get_by_text("Enough clips to train.").wait_for()
    card = page.locator("section", has=page.get_by_role("heading", name="Record in the browser"))
    card.get_by_label("Takes").fill("2")
    card.get_by_label("Seconds per take").fill("1")
    card.get_by_label("Seconds of room").fill("5")
    card.get_by_role("button", name="Record my voice").click()
    card.get_by_text("Step 1 of 10: say “hey jarvis” now").wait_for()
    card.get_by_text(re.compile(r"Step 8 of 10: say “hey travis” \(not the wake phrase\)")).wait_for(timeout=60_000)
    card.get_by_text("Step 10 of 10: stay quiet for 5 s: recording your room").wait_for(timeout=30_000)
    card.get_by_text("Done: 2 takes of the phrase, 7 other phrases and 1 room recording stored as me.").wait_for(
        timeout=30_000
    )

    clips = httpx.get(f"{server.url}/datasets/voice/recordings", params={"source": "recording"}).json()["items"]
    assert {c["speaker"] for c in clips} == {"me"}, "a blank speaker becomes “me”: the user's own clips need one"
    by_label = {label: [c for c in clips if c["label"] == label] for label in ("positive", "negative", "noise")}
    assert [len(by_label[label]) for label in ("positive", "negative", "noise")] == [2, 7, 1]
    notes = sorted(c["notes"] for c in by_label["negative"])
    assert notes[:2] == ["near miss: hey harvis", "near miss: hey travis"]
    assert all(n.startswith("said: ") for n in notes[2:]) and len(set(notes[2:])) == 5
    assert all(c["duration_s"] >= 3.4 for c in by_label["negative"] if c["notes"].startswith("said: "))
    # About the 5 s asked for: a loaded machine's browser drops a few audio blocks (4.88 s seen under CI load).
    assert 4.0 <= by_label["noise"][0]["duration_s"] <= 5.2

    # Nothing trained yet: the button says why it cannot start.
    train = card.get_by_role("button", name="Train with my voice")
    expect(train).to_be_disabled()
    expect(card.locator("#voice-why")).to_contain_text("No training of this dataset has finished yet")
    tab.screenshot("13-voice-no-model")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        base = http.post("/train", json={"dataset": "voice", "preset": "tiny", "config_overrides": COMPARED})
        base_id = base.raise_for_status().json()["id"]
        wait_for_status(http, base_id, "succeeded")
    # The job's events reach the page: the button wakes up, naming the model it will start from.
    expect(train).to_be_enabled(timeout=30_000)
    expect(card.locator("#voice-why")).to_contain_text(f"Fine-tunes job {base_id[:8]}")
    tab.screenshot("13-voice-ready")
    train.click()
    page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    expect(page.locator(f"a[data-base-job='{base_id}']")).to_have_text(f"job {base_id[:8]}")
    page.locator(".status .badge.succeeded").wait_for(timeout=120_000)
    job = httpx.get(f"{server.url}/jobs/{job_id}").json()
    assert job["config"]["base_job"] == base_id and job["metrics"]["fine_tuned_from"] == base_id
    assert "fine-tuning the model of job" in page.locator(".logs").inner_text()
    assert tab.unexpected_errors() == []


def test_the_model_to_fine_tune_is_the_lowest_validation_frr_and_the_newest_of_a_tie(server: Server, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{server.url}/")
    best = page.evaluate(
        """async () => {
            const { bestBaseJob } = await import("./js/pages/record-card.js");
            // A succeeded train job made on day `day` of a month, with its validation FRR (null: not calibrated).
            const job = (id, frr, day, more = {}) => ({ id, kind: "train", status: "succeeded",
                created_at: `2026-01-0${day}T10:00:00+00:00`, metrics: frr === null ? {} : { val_frr: frr }, ...more });
            return {
                lowest: bestBaseJob([job("a", 0.2, 3), job("b", 0.05, 1), job("c", 0.1, 2)]).id,
                tie: bestBaseJob([job("a", 0.1, 1), job("b", 0.1, 3), job("c", 0.1, 2)]).id,
                uncalibrated: bestBaseJob([job("a", null, 3), job("b", 0.9, 1)]).id,
                noneCalibrated: bestBaseJob([job("a", null, 1), job("b", null, 2)]).id,
                onlyTrainJobs: bestBaseJob([
                    job("e", 0.0, 5, { kind: "evaluate" }), job("f", 0.0, 5, { status: "failed" }), job("t", 0.5, 1),
                ]).id,
                nothing: bestBaseJob([]),
            };
        }"""
    )
    assert best == {
        "lowest": "b",
        "tie": "b",
        "uncalibrated": "b",
        "noneCalibrated": "b",
        "onlyTrainJobs": "t",
        "nothing": None,
    }


def test_a_personalised_models_evaluation_leads_with_the_users_own_held_out_takes(server: Server, tab: Tab) -> None:
    page = tab.page
    page.goto(f"{server.url}/")
    leads = page.evaluate(
        """async () => {
            const { qualityLead } = await import("./js/pages/quality.js");
            // 81 validation phrases, 79 of them synthetic voices and 2 the user's takes, as on the dev benchmark.
            const coverage = { positive_clips: 81, user_positive_clips: 2, negative_audio_s: 600,
                positive_clips_by_source: { synthetic: 79, recording: 2 } };
            const lead = (more) => qualityLead({ frr: 59 / 81, fa: 0, coverage, target: 0.5, observedFa: 0, ...more });
            return {
                both: lead({ userFrr: 0, userTakes: 2 }).sentence,
                one: lead({ userFrr: 0.25, userTakes: 4 }).sentence,
                none: lead({ userFrr: 1, userTakes: 2 }).sentence,
                all: lead({ userFrr: 0, userTakes: 5 }).sentence,
                synthetic: lead({}).sentence,
            };
        }"""
    )
    # "Will it wake for me?" comes first; the phrases the rest of the sentence counts are said to be synthetic.
    assert leads["both"].startswith("For your voice: wakes for both of your held-out takes. Expected on everyday")
    assert leads["both"].endswith("misses 59 of its 81 validation phrases (72.8%), 79 of them synthetic."), leads
    assert leads["one"].startswith("For your voice: wakes for 3 of your 4 held-out takes (misses 25.0%). ")
    assert leads["all"].startswith("For your voice: wakes for all 5 of your held-out takes. ")
    assert leads["none"].startswith("For your voice: wakes for none of your 2 held-out takes (misses 100.0%). ")
    # Without takes in validation the lead is the one every job has, and claims nothing about the user's voice.
    assert leads["synthetic"].startswith("Expected on everyday audio: ")
    assert "your" not in leads["synthetic"] and "synthetic." not in leads["synthetic"], leads


def test_clips_from_a_script_appear_live_and_can_be_relabelled_trashed_and_restored(server: Server, tab: Tab) -> None:
    httpx.post(f"{server.url}/datasets", json={"name": "live"}).raise_for_status()
    page = tab.page
    page.goto(f"{server.url}/#/datasets/live")
    page.get_by_text("No clips yet").wait_for()

    files = [("files", ("script.wav", wav_bytes(seed=5)))]
    response = httpx.post(f"{server.url}/datasets/live/recordings", files=files, data={"label": "negative"})
    clip_id = response.json()["clips"][0]["id"]
    row = page.locator(f"tr[data-clip='{clip_id}']")
    row.wait_for()
    page.locator("[data-label-count=negative]", has_text="negative 1").wait_for()
    # Newest first by default; this user wants their first clip to stay on top while more arrive.
    page.get_by_role("button", name="Created").click()
    expect(page.locator("th[aria-sort=ascending]")).to_have_text(re.compile("Created"))

    row.get_by_label("Label of script.wav").select_option("noise")
    page.get_by_text("Saved the label of script.wav").wait_for()
    row.get_by_label("Notes on script.wav").fill("fan hum")
    row.get_by_label("Notes on script.wav").press("Enter")
    page.get_by_text("Saved the notes of script.wav").wait_for()
    clip = httpx.get(f"{server.url}/datasets/live/recordings/{clip_id}").json()
    assert (clip["label"], clip["notes"]) == ("noise", "fan hum")

    # Drag and drop: 55 WAV files made in the page, dropped on the zone as a file manager would (two requests).
    page.get_by_label("Label", exact=True).first.select_option("positive")
    page.evaluate(DROP_WAVS, 55)
    page.locator("#main").get_by_text("Stored 55 positive clips.").wait_for()
    page.locator("[data-label-count=positive]", has_text="positive 55").wait_for()
    expect(page.locator(".pager")).to_contain_text("1\u201350 of 56")  # an en dash, as the page writes ranges
    # The table was redrawn under the keyboard user, who is still in the cell they last edited.
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Notes on script.wav"

    row.get_by_role("button", name="Delete script.wav").click()
    row.wait_for(state="detached")
    page.get_by_label("Show").select_option("trash")
    trashed = page.locator(f"tr[data-clip='{clip_id}']")
    trashed.get_by_role("button", name="Restore script.wav").wait_for()
    tab.screenshot("7-trash")
    trashed.get_by_role("button", name="Restore script.wav").click()
    page.get_by_text("The trash is empty.").wait_for()
    assert httpx.get(f"{server.url}/datasets/live/recordings/{clip_id}").json()["deleted"] is False
    assert tab.unexpected_errors() == []


def test_the_trash_shows_the_trash_when_an_earlier_request_for_the_active_clips_answers_last(
    server: Server, tab: Tab
) -> None:
    httpx.post(f"{server.url}/datasets", json={"name": "late"}).raise_for_status()
    files = [("files", ("gone.wav", wav_bytes(seed=6)))]
    stored = httpx.post(f"{server.url}/datasets/late/recordings", files=files, data={"label": "negative"}).json()
    clip_id = stored["clips"][0]["id"]
    httpx.delete(f"{server.url}/datasets/late/recordings/{clip_id}").raise_for_status()
    page = tab.page
    # A busy server: once asked to, the page's requests for the active clips answer 1.5 s late.
    page.add_init_script(
        """(() => {
            const fetchNow = window.fetch;
            window.fetch = async (...args) => {
                const url = String(args[0] && args[0].url ? args[0].url : args[0]);
                if (window.slowActive && url.includes("deleted=false")) await new Promise((r) => setTimeout(r, 1500));
                return fetchNow(...args);
            };
        })()"""
    )
    page.goto(f"{server.url}/#/datasets/late")
    page.get_by_text("No clips yet").wait_for()
    page.evaluate("window.slowActive = true")
    # The user narrows the active clips, then at once opens the trash: the trash answers first.
    page.locator(".filters").get_by_label("Label").select_option("negative")
    page.get_by_label("Show").select_option("trash")
    restore = page.locator(f"tr[data-clip='{clip_id}']").get_by_role("button", name="Restore gone.wav")
    restore.wait_for()
    # The late answer about the active clips does not replace the trash the user is looking at.
    page.wait_for_timeout(2_500)
    expect(restore).to_be_visible()
    assert tab.unexpected_errors() == []


def test_clips_show_newest_first_sort_by_a_column_and_narrow_by_source_and_speaker(server: Server, tab: Tab) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/datasets", json={"name": "sorts"}).raise_for_status()
        for name, seconds, fields in (
            ("a.wav", 1.0, {"label": "positive", "speaker": "alice"}),
            ("b.wav", 2.0, {"label": "noise", "speaker": "bob", "source": "recording"}),
            ("c.wav", 0.6, {"label": "negative"}),
        ):
            files = [("files", (name, wav_bytes(seconds, seed=len(name) + int(seconds * 10))))]
            http.post("/datasets/sorts/recordings", files=files, data=fields).raise_for_status()
    page = tab.page
    page.goto(f"{server.url}/#/datasets/sorts")
    names = page.locator("table.clips tbody td.name")
    expect(names).to_have_text(["c.wav", "b.wav", "a.wav"])
    expect(page.locator("th[aria-sort=descending]")).to_have_text(re.compile("Created"))

    page.get_by_role("button", name="Duration").click()
    expect(names).to_have_text(["b.wav", "a.wav", "c.wav"])
    page.get_by_role("button", name="Duration").click()
    expect(names).to_have_text(["c.wav", "a.wav", "b.wav"])
    expect(page.locator("th[aria-sort=ascending]")).to_have_text(re.compile("Duration"))
    page.get_by_role("button", name="Label").click()
    expect(names).to_have_text(["c.wav", "b.wav", "a.wav"])  # negative, noise, positive

    page.get_by_label("Source").select_option("recording")
    expect(names).to_have_text(["b.wav"])
    page.get_by_label("Source").select_option("")
    page.get_by_label("Speaker", exact=True).last.select_option("alice")
    expect(names).to_have_text(["a.wav"])
    page.get_by_label("Label", exact=True).last.select_option("noise")
    page.get_by_text("No clips match these filters.").wait_for()
    assert tab.unexpected_errors() == []


DROP_WAVS = """async (count) => {
  const { encodeWav } = await import("/js/wav.js");
  const files = Array.from({ length: count }, (_, i) => 300 + 10 * i).map((freq, i) => {
    const samples = new Float32Array(16000).map((_, n) => 0.3 * Math.sin((2 * Math.PI * freq * n) / 16000));
    return new File([encodeWav(samples)], `dropped-${i}.wav`, { type: "audio/wav" });
  });
  const data = new DataTransfer();
  files.forEach((file) => data.items.add(file));
  const zone = document.querySelector(".dropzone");
  zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
}"""


def test_the_needs_attention_card_lists_flagged_clips_with_their_flags_and_follows_new_ones(
    server: Server, tab: Tab
) -> None:
    def clip(freq: float, amplitude: float, before: float) -> bytes:
        t = np.arange(round(0.6 * 16_000)) / 16_000
        sine = np.clip(amplitude * np.sin(2 * np.pi * freq * t), -1, 1)
        return encode(np.concatenate([np.zeros(round(before * 16_000)), sine, np.zeros(3_200)]), 16_000)

    def post(filename: str, data: bytes) -> None:
        files = [("files", (filename, data))]
        httpx.post(f"{server.url}/datasets/qa/recordings", files=files, data={"label": "positive"}).raise_for_status()

    httpx.post(f"{server.url}/datasets", json={"name": "qa"}).raise_for_status()
    post("hot.wav", clip(300.0, 1.5, 0.2))
    post("fine.wav", clip(500.0, 0.3, 0.2))
    page = tab.page
    page.goto(f"{server.url}/#/datasets/qa")
    card = page.locator("section.quality-card")
    expect(card.locator("tbody tr")).to_have_count(1)
    expect(card.locator("tbody tr")).to_contain_text("hot.wav")
    expect(card.locator("tbody tr")).to_contain_text("clipped (distorted)")

    post("late.wav", clip(700.0, 0.3, 0.0))  # starts at its first sample: cut at the start
    expect(card.locator("tbody tr")).to_have_count(2)
    expect(card.locator("tbody tr", has_text="late.wav")).to_contain_text("cut at the start or end")
    assert "fine.wav" not in card.inner_text()
    assert tab.unexpected_errors() == []


def tab_to(page: Any, name: str, presses: int = 80) -> None:
    """Press Tab until the focused control is called `name`: it is reachable from the keyboard."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == name:
            return
    raise AssertionError(f"{name!r} is not reachable with Tab")


def test_a_running_job_is_watched_and_cancelled_from_the_keyboard(server: Server, tab: Tab) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/datasets", json={"name": "long"}).raise_for_status()
        add_tones(http, "long")
    page = tab.page
    page.goto(f"{server.url}/#/datasets/long")
    page.get_by_text("Enough clips to train.").wait_for()
    page.get_by_label("Preset").select_option("tiny")
    # Patience 0: tones are learned in a few epochs, and early stopping could end the job before it is watched.
    page.get_by_label("More overrides (JSON)").fill(
        '{"epochs": 200, "steps_per_epoch": 4, "batch_size": 8, "patience": 0}'
    )
    tab_to(page, "Start training")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))

    page.wait_for_function(
        "() => document.querySelectorAll('[data-chart=loss] svg circle').length >= 2", timeout=120_000
    )
    expect(page.locator(".status .badge.running")).to_have_count(1)
    expect(page.locator(".progress-text")).to_contain_text(" s left")
    tab.screenshot("10-job-running")
    tab_to(page, "Cancel job")
    page.keyboard.press("Enter")
    page.locator(".status .badge.cancelled").wait_for(timeout=60_000)
    page.get_by_role("heading", name="Cancelled").wait_for()
    assert page.get_by_role("button", name="Cancel job").is_hidden()
    assert 0 < int(page.get_by_role("progressbar").get_attribute("aria-valuenow")) < 100
    # A stopped job has no time left: neither on this page nor on the page opened afresh.
    expect(page.locator(".progress-text")).to_contain_text("epoch")
    expect(page.locator(".progress-text")).not_to_contain_text("left")
    page.reload()
    page.get_by_role("heading", name="Cancelled").wait_for()
    expect(page.locator(".progress-text")).to_contain_text("epoch")
    expect(page.locator(".progress-text")).not_to_contain_text("left")
    expect(page.locator(".status .badge")).to_have_text("cancelled")
    assert tab.unexpected_errors() == []


def test_a_job_record_older_than_its_event_stream_does_not_put_the_status_back(server: Server, tab: Tab) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/datasets", json={"name": "late"}).raise_for_status()
        add_tones(http, "late")
        overrides = {"epochs": 200, "steps_per_epoch": 4, "batch_size": 8, "patience": 0}
        job_id = http.post("/train", json={"dataset": "late", "preset": "tiny", "config_overrides": overrides}).json()[
            "id"
        ]
        wait_for_status(http, job_id, "running")

        # The job's record answers late and as it was before the job started, after the stream has said "started".
        def stale_record(route: Any) -> None:
            time.sleep(1.5)
            record = route.fetch().json()
            route.fulfill(json={**record, "status": "queued", "started_at": None})

        page = tab.page
        page.route(re.compile(rf".*/jobs/{job_id}$"), stale_record, times=1)
        page.goto(f"{server.url}/#/jobs/{job_id}")
        expect(page.locator(".status .badge.running")).to_have_count(1)
        http.post(f"/jobs/{job_id}/cancel").raise_for_status()
        page.locator(".status .badge.cancelled").wait_for(timeout=60_000)
    assert tab.unexpected_errors() == []


def test_bad_input_shows_the_apis_explanation(server: Server, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    page.goto(f"{server.url}/")
    page.get_by_label("Name").fill("Not A Name")
    page.get_by_role("button", name="Create dataset").click()
    alert = page.get_by_role("alert").filter(has_text="Could not create the dataset")
    alert.wait_for()
    detail = httpx.post(f"{server.url}/datasets", json={"name": "Not A Name"}).json()["detail"]
    assert detail in alert.inner_text()

    httpx.post(f"{server.url}/datasets", json={"name": "thin"}).raise_for_status()
    page.goto(f"{server.url}/#/datasets/thin")
    # Too few clips: the button waits, and says why in the API's own words.
    start = page.get_by_role("button", name="Start training")
    missing = httpx.get(f"{server.url}/datasets/thin").json()["training"]["missing"]
    expect(page.locator("#train-why")).to_have_text(f"Not ready to train: add {' and '.join(missing)}.")
    expect(start).to_be_disabled()
    assert start.get_attribute("aria-describedby") == "train-why"
    tab.screenshot("8-not-ready")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        add_tones(http, "thin")
    expect(start).to_be_enabled()
    expect(page.locator("#train-why")).to_have_text("")
    page.get_by_label("More overrides (JSON)").fill('{"epochs": 0}')
    start.click()
    refusal = page.get_by_role("alert").filter(has_text="Training refused")
    refusal.wait_for()
    assert "epochs" in refusal.inner_text()

    notes = tmp_path / "notes.wav"
    notes.write_text("not audio at all")
    page.set_input_files("#upload-files", [str(notes)])
    upload_refusal = page.get_by_role("alert").filter(has_text="Upload refused")
    upload_refusal.wait_for()
    assert "notes.wav" in upload_refusal.inner_text()
    page.locator("#main").get_by_text("Nothing was stored.").wait_for()
    tab.screenshot("8-bad-input")

    page.get_by_role("link", name="← Datasets").click()
    delete = page.get_by_role("button", name="Delete dataset thin")
    delete.click()
    expect(delete).to_have_text("Delete with 20 clips?")
    delete.click()
    page.get_by_text("No datasets yet").wait_for()
    assert httpx.get(f"{server.url}/datasets/thin").status_code == 404
    assert tab.unexpected_errors(allowed_statuses={415, 422}) == []


NIGHT_PRESET = {
    "night": {
        "description": "The tiny model for two steps, set by this server's WAKE_TRAINING_PRESETS for the test.",
        "config": {"preset": "tiny", "epochs": 1, "steps_per_epoch": 2, "batch_size": 8, "background_speech_s": 0},
    }
}


@pytest.mark.parametrize(
    "server", [{"WAKE_TRAINING_PRESETS": json.dumps(NIGHT_PRESET)}], ids=["presets_from_the_environment"], indirect=True
)
def test_the_train_card_offers_the_servers_presets_with_their_descriptions(server: Server, tab: Tab) -> None:
    httpx.post(f"{server.url}/datasets", json={"name": "night"}).raise_for_status()
    for label, seed in (("positive", 0), ("negative", 100)):
        files = [("files", (f"{label}-{i}.wav", wav_bytes(seed=seed + i))) for i in range(10)]
        httpx.post(f"{server.url}/datasets/night/recordings", files=files, data={"label": label}).raise_for_status()
    page = tab.page
    page.goto(f"{server.url}/#/datasets/night")
    card = page.locator("form", has=page.get_by_role("heading", name="Train"))
    preset = card.get_by_label("Preset")
    about = card.locator("#preset-about")
    expect(about).to_have_text(re.compile(r"^The defaults: the small model"))
    expect(preset.locator("option")).to_have_text(["tiny", "small", "base", "quick", "windowed", "thorough", "night"])

    preset.select_option("night")
    expect(about).to_have_text(NIGHT_PRESET["night"]["description"])
    expect(preset).to_have_accessible_description(NIGHT_PRESET["night"]["description"])
    expect(card.get_by_label("Steps per epoch", exact=True)).to_have_attribute("placeholder", "2")
    page.get_by_text("Enough clips to train.").wait_for()
    assert_card_fits(page, card, "11-train-card", "Train")

    card.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    job = httpx.get(f"{server.url}/jobs/{page.url.rsplit('/', 1)[1]}").json()
    night = next(p for p in httpx.get(f"{server.url}/presets").json() if p["name"] == "night")
    assert job["config"] == night["config"]
    page.locator(".status .badge.succeeded").wait_for(timeout=60_000)
    assert tab.unexpected_errors() == []


class StaticSite:
    """The dashboard's files served from another origin, as a separate front end (the Vue console case) is."""

    def __init__(self) -> None:
        handler = functools.partial(QuietHandler, directory=str(STATIC_DIR))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def log_message(self, *args: Any) -> None:
        pass


def test_the_dashboard_works_from_another_origin_with_a_token(tab: Tab, tmp_path: Path) -> None:
    site = StaticSite()
    env = clean_env(
        WAKE_TRAINING_DATA_DIR=str(tmp_path / "volume"),
        WAKE_TRAINING_API_TOKEN="s3cret",
        WAKE_TRAINING_CORS_ORIGINS=site.url,
    )
    server = Server(env, tmp_path / "serve.log")
    auth = {"Authorization": "Bearer s3cret"}
    try:
        page = tab.page
        page.goto(f"{site.url}/?api={server.url}#/")
        page.get_by_text("missing or wrong API token").first.wait_for()
        page.locator("#settings summary").click()
        assert page.get_by_label("API address").input_value() == server.url
        page.get_by_label("API token").fill("s3cret")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("No datasets yet").wait_for()
        page.get_by_label("Name").fill("remote")
        page.get_by_role("button", name="Create dataset").click()
        page.wait_for_url(re.compile(r"#/datasets/remote$"))
        page.get_by_text("No clips yet").wait_for()

        files = [("files", ("remote.wav", wav_bytes(seed=9)))]
        httpx.post(f"{server.url}/datasets/remote/recordings", files=files, data={"label": "positive"}, headers=auth)
        page.locator("table.clips tbody tr").first.wait_for()
        page.get_by_role("button", name="Play clip remote.wav").click()
        page.get_by_role("button", name="Stop clip remote.wav").wait_for()
        tab.screenshot("9-other-origin")
        assert httpx.get(f"{server.url}/datasets").status_code == 401

        # A link may carry the token once: it is kept, and taken out of the address bar.
        page.evaluate("localStorage.clear()")
        page.goto(f"{site.url}/?api={server.url}&token=s3cret#/jobs")
        page.get_by_text("No jobs yet.").wait_for()
        assert "s3cret" not in page.url and page.url.endswith("#/jobs")
        # Only the first load, before the token was entered, was refused.
        assert tab.unexpected_errors(allowed_statuses={401}) == []
    finally:
        tab.close()
        server.stop()
        site.stop()


def test_the_synthesize_card_starts_a_synthesis_whose_clips_show_on_the_dataset(server: Server, tab: Tab) -> None:
    httpx.post(f"{server.url}/datasets", json={"name": "porch", "wake_phrase": "hey porch"}).raise_for_status()
    page = tab.page
    page.goto(f"{server.url}/#/datasets/porch")
    card = page.locator("form", has=page.get_by_role("heading", name="Synthesize"))
    expect(card.get_by_label("Phrase")).to_have_value("hey porch")
    expect(card.get_by_label("Language")).to_have_value("en")
    card.get_by_label("Positives").fill("3")
    # Empty counts are the API's defaults, shown for the positives asked for.
    expect(card.get_by_label("Near-miss negatives")).to_have_attribute("placeholder", "6")
    expect(card.get_by_label("Noise clips")).to_have_attribute("placeholder", "1")
    expect(card.locator("fieldset[data-engine=pico] input")).to_have_count(2)

    # More clips than one job may make: the API's 422 shows by the button, and no job is made.
    card.get_by_label("Positives").fill("5000")
    card.get_by_role("button", name="Start synthesis").click()
    expect(card.locator("#synth-error")).to_contain_text("WAKE_TRAINING_MAX_SYNTHESIS_CLIPS")
    assert_card_fits(page, card, "12-synthesize-card", "Synthesize")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert httpx.get(f"{server.url}/jobs", params={"dataset": "porch"}).json()["items"] == []

    for label, value in (("Positives", "3"), ("Near-miss negatives", "2"), ("Noise clips", "1")):
        card.get_by_label(label).fill(value)
    card.locator("input[value='en-us']").check()
    card.locator("input[value='pico:en-GB']").check()
    card.get_by_role("button", name="Start synthesis").click()
    page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    job = httpx.get(f"{server.url}/jobs/{page.url.rsplit('/', 1)[1]}").json()
    assert job["kind"] == "synthesize"
    assert {k: job["config"][k] for k in ("phrase", "language", "positives", "negatives", "noise", "voices")} == {
        "phrase": "hey porch",
        "language": "en",
        "positives": 3,
        "negatives": 2,
        "noise": 1,
        "voices": ["en-us", "pico:en-GB"],
    }
    page.locator(".status .badge.succeeded").wait_for(timeout=60_000)
    # A synthesis speaks of clips made, not of presets, epochs or loss.
    expect(page.locator("h1")).to_contain_text("Synthesis job")
    expect(page.locator(".progress-text")).to_contain_text("6 of 6 clips")
    assert "epoch" not in page.locator(".progress-text").inner_text()
    assert "Preset" not in page.locator("dl").first.inner_text()
    # The result: clips added by label, the voices used, and a few clips to hear.
    expect(page.locator(".synthesis-summary")).to_contain_text(
        "Added 6 clips to porch: 3 positives (the phrase), 2 near misses, 1 noise clip"
    )
    assert page.locator(".voice-list li").count() >= 2
    expect(page.locator(".voice-list")).to_contain_text("pico:en-GB")
    expect(page.locator(".sample-list audio")).to_have_count(5)
    sample = page.locator(".sample-list audio").first.get_attribute("src")
    assert httpx.get(sample if sample.startswith("http") else f"{server.url}{sample}").status_code == 200
    tab.screenshot("12-synthesize-job")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator(".progress-text")).to_contain_text("6 of 6 clips")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, "nothing wider than a phone"
    tab.screenshot("12-synthesize-job-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="← porch").click()
    expect(page.locator("[data-label-count=positive]")).to_have_text("positive 3")
    expect(page.locator("[data-label-count=negative]")).to_have_text("negative 2")
    expect(page.locator("[data-label-count=noise]")).to_have_text("noise 1")
    expect(page.locator("[data-col=source]")).to_have_text(["synthetic"] * 6)
    assert tab.unexpected_errors(allowed_statuses={422}) == []


# Two quick trainings that differ in one setting, as a user comparing learning rates would start them.
COMPARED = {"epochs": 2, "steps_per_epoch": 3, "batch_size": 8, "background_speech_s": 0}


def test_two_trainings_compare_side_by_side_with_the_setting_that_differs_and_both_curves(
    server: Server, tab: Tab
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/datasets", json={"name": "pair"}).raise_for_status()
        add_tones(http, "pair")
        ids = [
            http.post("/train", json={"dataset": "pair", "preset": "tiny", "config_overrides": {**COMPARED, **more}})
            .raise_for_status()
            .json()["id"]
            for more in ({}, {"learning_rate": 0.01})
        ]
        for job_id in ids:
            wait_for_status(http, job_id, "succeeded")
        evaluation = http.post(f"/jobs/{ids[1]}/evaluate", json={"dataset": "pair"}).raise_for_status().json()
        wait_for_status(http, evaluation["id"], "succeeded")

    page = tab.page
    page.goto(f"{server.url}/#/jobs")
    for job_id in ids:
        page.get_by_label(f"Compare job {job_id[:8]}").check()
    tab.screenshot("12-compare-pick")
    page.get_by_role("button", name="Compare 2 selected").click()
    page.wait_for_url(re.compile(rf"#/compare\?jobs={ids[0]},{ids[1]}$"))
    table = page.locator("table.compare")
    expect(table.locator("thead th[data-job]")).to_have_text([job_id[:8] for job_id in ids])
    expect(table.locator("tr[data-row=preset] td")).to_have_text(["tiny", "tiny"])
    expect(table.locator("tr[data-row=fa] td")).to_have_text([re.compile(r"\d.*(observed|predicted)")] * 2)
    # Only the learning rate differs, and it stands out; the settings alike fold away under a summary.
    expect(table.locator("tr.differs")).to_have_count(1)
    differs = table.locator("tr.differs[data-key=learning_rate]")
    expect(differs.locator("td")).to_have_text(["0.003", "0.01"])
    assert differs.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    same = page.locator("details.same-settings")
    expect(same.locator("tr[data-key=epochs] td")).to_have_text("2")
    assert same.locator("tr[data-key=epochs]").is_hidden()
    curves = page.locator("[data-chart=compare-det] path.series")
    expect(curves).to_have_count(2)
    assert [c.get_attribute("data-name") for c in curves.all()] == [f"{job_id[:8]} tiny" for job_id in ids]
    evaluations = page.locator("table.compare-evaluations tbody tr")
    expect(evaluations).to_have_count(1)
    # The first job has no evaluation (an en dash); the second's says what it missed and how often it woke.
    expect(evaluations.locator("td")).to_have_text(["\u2013", re.compile(r"^missed \d+\.\d% · [\d.,]+ FA/h$")])
    tab.screenshot("12-compare")
    # Opened on a phone: the chart is drawn for its width (its text stays readable), the table scrolls.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(table.locator("thead th[data-job]")).to_have_count(2)
    expect(page.locator("[data-chart=compare-det] svg")).to_have_attribute("viewBox", re.compile(r"^0 0 380 "))
    expect(page.locator(".table-wrap", has=table)).to_have_class(re.compile(r"\bmore-right\b"))
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, "nothing wider than a phone"
    tab.screenshot("12-compare-phone")

    # The dataset's own compare page: its newest succeeded trainings, newest first.
    page.goto(f"{server.url}/#/datasets/pair")
    page.get_by_role("link", name="Compare jobs").click()
    page.wait_for_url(re.compile(r"#/datasets/pair/compare$"))
    expect(page.locator("table.compare thead th[data-job]")).to_have_text([job_id[:8] for job_id in reversed(ids)])
    # Fewer jobs, picked on the page itself.
    page.get_by_text("Choose the jobs").click()
    page.get_by_label(re.compile(f"^{ids[0][:8]} tiny")).uncheck()
    page.get_by_role("button", name="Compare these").click()
    page.wait_for_url(re.compile(rf"#/compare\?jobs={ids[1]}$"))
    expect(page.locator("table.compare thead th[data-job]")).to_have_text([ids[1][:8]])
    assert tab.unexpected_errors() == []


def wait_for_status(http: httpx.Client, job_id: str, status: str, timeout_s: float = 120) -> None:
    """Poll a job until it reaches `status`; fail at once if it ends in another."""
    deadline = time.monotonic() + timeout_s
    while (job := http.get(f"/jobs/{job_id}").json())["status"] != status:
        assert job["status"] not in {"succeeded", "failed", "cancelled"} - {status}, job.get("error")
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.2)


def assert_card_fits(page: Any, card: Any, shot: str, what: str) -> None:
    """The card is neither cut off nor overflowing at a desktop's and a phone's width; screenshots of both."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        card.screenshot(path=str(SCREENSHOTS / f"{shot}-{width}.png"))
        box = card.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"the {what} card is cut off at {width} px"
        assert card.evaluate("e => e.scrollWidth <= e.clientWidth"), f"the {what} card overflows at {width} px"
