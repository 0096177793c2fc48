"""Dataset QA in the browser: clips uploaded through the page are flagged, fixed in one click, charted and filtered."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests import test_dashboard as dashboard
from tests.audio_factory import encode
from tests.processes import Server
from tests.test_dashboard import Tab, assert_card_fits, assert_not_clipped, expect

# The dashboard tests' fixtures (pytest finds fixtures by their names in the module): one Chromium, tabs, servers.
browser, fake_microphone, server, tab = dashboard.browser, dashboard.fake_microphone, dashboard.server, dashboard.tab

pytestmark = pytest.mark.e2e
RATE = 16_000


def take(freq: float, *, amplitude: float = 0.3, before: float = 0.2, after: float = 0.2) -> np.ndarray:
    """A tone between silences: `before=0` starts it at the first sample, as a recording started late does."""
    t = np.arange(round(0.6 * RATE)) / RATE
    tone = np.clip(amplitude * np.sin(2 * np.pi * freq * t), -1, 1)
    return np.concatenate([np.zeros(round(before * RATE)), tone, np.zeros(round(after * RATE))]).astype(np.float32)


def write(folder: Path, name: str, samples: np.ndarray) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(encode(samples, RATE))
    return str(path)


def upload_through_the_page(page: Any, label: str, files: list[str], speaker: str = "") -> None:
    card = page.locator("section", has=page.get_by_role("heading", name="Upload clips"))
    card.get_by_label("Label", exact=True).select_option(label)
    card.get_by_label("Speaker").fill(speaker)
    page.set_input_files("#upload-files", files)
    clips = "clip" if len(files) == 1 else "clips"
    card.get_by_text(f"Stored {len(files)} {label} {clips}.").wait_for()


def test_clips_uploaded_through_the_page_are_flagged_charted_fixed_in_one_click_and_filtered(
    server: Server, tab: Tab, tmp_path: Path
) -> None:
    httpx.post(f"{server.url}/datasets", json={"name": "porch", "wake_phrase": "hey porch"}).raise_for_status()
    page = tab.page
    page.goto(f"{server.url}/#/datasets/porch")
    page.get_by_text("Nothing to check yet.").wait_for()
    folder = tmp_path / "uploads"
    # Silence is refused as a positive; labelled noise (the room's sound), it is stored and flagged silent.
    upload_through_the_page(page, "noise", [write(folder, "room.wav", np.zeros(RATE, np.float32))])
    upload_through_the_page(
        page,
        "positive",
        [
            write(folder, "hot.wav", take(300.0, amplitude=1.5)),
            write(folder, "late.wav", take(700.0, before=0.0, after=0.4)),
            write(folder, "fine.wav", take(500.0)),
        ],
        speaker="alice",
    )
    upload_through_the_page(page, "positive", [write(folder, "copy.wav", take(500.0) * 0.5)])

    card = page.locator("section.quality-card")
    rows = card.locator("tbody tr")
    expect(rows).to_have_count(4)
    expected = {
        "room.wav": "silent",
        "hot.wav": "clipped (distorted)",
        "late.wav": "cut at the start or end",
        "copy.wav": "near duplicate of fine.wav",
    }
    for name, words in expected.items():
        expect(card.locator("tbody tr", has_text=name).locator("td.flags")).to_have_text(words)
    assert "fine.wav" not in card.locator("td.name").all_inner_texts()

    # The histograms count every clip once; the tables sum them up per speaker and per source.
    for chart, count in (("durations", 8), ("levels", 7)):
        bars = page.locator(f"[data-chart={chart}] rect.bar")
        expect(bars).to_have_count(count)
        assert sum(int(b.get_attribute("data-clips")) for b in bars.all()) == 5, chart
    silent_bin = page.locator("[data-chart=levels] rect.bar").first
    assert silent_bin.get_attribute("data-clips") == "1", "the silent clip sits below -60 dBFS"
    speakers = page.locator("table[data-table=by-speaker] tbody tr")
    expect(speakers).to_have_count(2)
    alice = httpx.get(f"{server.url}/datasets/porch/quality").json()["by_speaker"][0]
    level = f"{alice['mean_loudness_dbfs']:.3g}"
    expect(speakers.first.locator("th, td")).to_have_text(["alice", "3", "1.00", level, "2"])
    expect(speakers.nth(1).locator("th, td").first).to_have_text("no speaker given")
    expect(page.locator("table[data-table=by-source] tbody tr th")).to_have_text(["upload"])
    page.evaluate("document.activeElement.blur()")
    tab.screenshot("13-dataset-quality-1280")

    # One click each: the clip cut at the edge is a fine negative; the distorted one goes to the trash.
    card.get_by_role("button", name="Mark late.wav as negative").click()
    expect(card.locator("tbody tr", has_text="late.wav")).to_have_count(0)
    card.get_by_role("button", name="Delete: move hot.wav to the trash").click()
    expect(card.locator("tbody tr", has_text="hot.wav")).to_have_count(0)
    expect(rows).to_have_count(2)
    listing = httpx.get(f"{server.url}/datasets/porch/recordings", params={"deleted": "all"}).json()["items"]
    state = {c["original_filename"]: (c["label"], c["deleted"]) for c in listing}
    assert state["late.wav"] == ("negative", False)
    assert state["hot.wav"] == ("positive", True)

    # Opened on a phone: the charts are drawn for its width, each flagged clip a block with its fixes in sight.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(card.locator("tbody tr", has_text="copy.wav")).to_be_visible()
    expect(page.locator("[data-chart=durations] svg")).to_have_attribute("viewBox", re.compile(r"^0 0 380 "))
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, "nothing wider than a phone"
    assert_not_clipped(page, card.get_by_role("button", name="Delete: move copy.wav to the trash"))
    assert_not_clipped(page, card.get_by_role("button", name="Mark room.wav as positive"))
    tab.screenshot("13-dataset-quality-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The clips table narrows to one flag, or to any, beside the source and speaker filters.
    clips = page.locator("section", has=page.get_by_role("heading", name="Clips", exact=True))
    names = clips.locator("table.clips tbody td.name")
    expect(names).to_have_count(4)
    clips.get_by_label("Flag").select_option("near_duplicate")
    expect(names).to_have_text(["copy.wav"])
    clips.get_by_label("Flag").select_option("any")
    expect(names).to_have_text(["copy.wav", "room.wav"])  # newest first
    assert_card_fits(page, clips, "13-clips-filters", "Clips")
    page.set_viewport_size({"width": 1280, "height": 900})
    clips.get_by_label("Speaker", exact=True).select_option("alice")
    clips.get_by_text("No clips match these filters.").wait_for()
    clips.get_by_label("Flag").select_option("")
    expect(names).to_have_text(["fine.wav", "late.wav"])
    assert re.search(r"\bany flag\b", clips.get_by_label("Flag").inner_text())
    assert tab.unexpected_errors() == []
