"""Synthetic clips from espeak-ng and Pico: speech, near misses, training sets and the `synth` command."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from api.cli import main
from shared.audio import normalize_clip
from worker.synthesis import (
    SAMPLE_RATE,
    EspeakSynthesizer,
    PicoSynthesizer,
    near_misses,
    synthesize_set,
    to_wav_bytes,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def synth() -> EspeakSynthesizer:
    return EspeakSynthesizer("en")


@pytest.fixture(scope="module")
def pico() -> PicoSynthesizer:
    return PicoSynthesizer("en")


def _engine(clip) -> str:
    return clip.speaker.split(":")[0]


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio))))


def test_speak_returns_audible_16khz_float32_speech_of_plausible_length(synth: EspeakSynthesizer) -> None:
    audio = synth.speak("hey jarvis", voice="en-us", variant="f2", rate_wpm=170, pitch=40)

    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.3 <= audio.size / SAMPLE_RATE <= 3.0
    assert _rms(audio) > 0.01 and np.abs(audio).max() <= 1.0
    margin = audio[: SAMPLE_RATE // 50]  # the first 20 ms lie in the kept ~50 ms of leading silence
    assert np.abs(margin).max() < 0.01


def test_faster_rate_gives_shorter_speech(synth: EspeakSynthesizer) -> None:
    slow = synth.speak("hey jarvis", voice="en-us", variant="m3", rate_wpm=100, pitch=50)
    fast = synth.speak("hey jarvis", voice="en-us", variant="m3", rate_wpm=300, pitch=50)

    assert fast.size < 0.7 * slow.size


def _median_f0(audio: np.ndarray) -> float:
    """Median fundamental frequency (Hz) of the loud frames, from each frame's autocorrelation peak."""
    frame, lags = 640, np.arange(SAMPLE_RATE // 400, SAMPLE_RATE // 60)
    frames = [audio[i : i + frame] for i in range(0, audio.size - frame, frame // 2)]
    loud = [f for f in frames if _rms(f) > 0.3 * max(_rms(g) for g in frames)]
    f0 = []
    for f in loud:
        corr = np.correlate(f, f, mode="full")[frame - 1 :]
        f0.append(SAMPLE_RATE / lags[np.argmax(corr[lags])])
    return float(np.median(f0))


def test_variants_and_pitches_change_the_voice(synth: EspeakSynthesizer) -> None:
    male = synth.speak("hey jarvis", voice="en", variant="m3", rate_wpm=175, pitch=50)
    female = synth.speak("hey jarvis", voice="en", variant="f2", rate_wpm=175, pitch=50)
    low = synth.speak("hey jarvis", voice="en", variant="m3", rate_wpm=175, pitch=5)
    high = synth.speak("hey jarvis", voice="en", variant="m3", rate_wpm=175, pitch=95)

    assert _median_f0(female) > 1.3 * _median_f0(male)
    assert _median_f0(high) > 1.3 * _median_f0(low)


def test_english_has_several_accents_and_many_variants(synth: EspeakSynthesizer) -> None:
    voices = synth.voices("en")

    assert {"en", "en-us", "en-gb-scotland", "en-029"} <= set(voices)
    assert {"m3", "f2", "whisper"} <= set(synth.variants())
    assert len(synth.variants()) > 50


def test_unknown_voice_or_variant_or_out_of_range_rate_is_refused(synth: EspeakSynthesizer) -> None:
    with pytest.raises(ValueError, match="no variant"):
        synth.speak("hey jarvis", voice="en-us", variant="nonexistent", rate_wpm=175, pitch=50)
    with pytest.raises(ValueError, match="no voice"):
        synth.speak("hey jarvis", voice="xx-yy", variant=None, rate_wpm=175, pitch=50)
    with pytest.raises(ValueError, match="rate_wpm"):
        synth.speak("hey jarvis", voice="en-us", variant=None, rate_wpm=1000, pitch=50)


def test_pico_lists_its_voices_per_language_and_names_them_for_an_unknown_one(pico: PicoSynthesizer) -> None:
    assert pico.voices() == ["en-GB", "en-US"]
    assert pico.voices("en-us") == ["en-US"]
    assert PicoSynthesizer("de").voices() == ["de-DE"]
    assert pico.languages() == ["de", "en", "es", "fr", "it"]
    with pytest.raises(ValueError, match=r"no voice for language 'nl'.*de-DE, en-GB, en-US, es-ES, fr-FR, it-IT"):
        PicoSynthesizer("nl")


def test_pico_speaks_trimmed_16khz_float32_speech_and_faster_is_shorter(pico: PicoSynthesizer) -> None:
    audio = pico.speak("hey jarvis", voice="en-US", speed=1.0, pitch=1.0)
    slow = pico.speak("hey jarvis", voice="en-GB", speed=0.75, pitch=1.2)
    fast = pico.speak("hey jarvis", voice="en-GB", speed=1.35, pitch=1.2)

    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.3 <= audio.size / SAMPLE_RATE <= 3.0
    assert _rms(audio) > 0.01 and np.abs(audio).max() < 1.0
    assert np.abs(audio[: SAMPLE_RATE // 50]).max() < 0.01 and np.abs(audio[-SAMPLE_RATE // 50 :]).max() < 0.01
    assert fast.size < 0.7 * slow.size


def test_pico_refuses_out_of_range_speed_or_pitch_and_unknown_voices(pico: PicoSynthesizer) -> None:
    with pytest.raises(ValueError, match=r"speed must be within 0.2-5.0, not 0.1"):
        pico.speak("hey jarvis", speed=0.1)
    with pytest.raises(ValueError, match=r"speed must be within"):
        pico.speak("hey jarvis", speed=6.0)
    with pytest.raises(ValueError, match=r"pitch must be within 0.5-2.0, not 3"):
        pico.speak("hey jarvis", pitch=3)
    with pytest.raises(ValueError, match=r"no voice 'en-AU'"):
        pico.speak("hey jarvis", voice="en-AU")
    with pytest.raises(ValueError, match="empty"):
        pico.speak("  ")


def test_near_misses_hold_the_parts_and_sound_alikes_but_never_the_phrase() -> None:
    misses = near_misses("hey jarvis")

    assert {"hey", "jarvis", "hey travis"} <= set(misses)
    assert any(m in misses for m in ("hey jars", "hey jar"))
    assert "hey jarvis" not in misses
    assert len(misses) == len(set(misses))


def test_near_misses_of_a_longer_phrase_include_every_proper_subsequence() -> None:
    misses = near_misses("Hey, my Computer!")

    assert {"hey", "my", "computer", "hey my", "my computer", "hey computer"} <= set(misses)
    assert "hey my computer" not in misses


def test_synthesize_set_gives_the_asked_counts_and_is_the_same_for_a_seed() -> None:
    first = synthesize_set("hey jarvis", positives=6, negatives=10, noise=3, seed=7)
    again = synthesize_set("hey jarvis", positives=6, negatives=10, noise=3, seed=7)
    other = synthesize_set("hey jarvis", positives=6, negatives=10, noise=3, seed=8)

    assert Counter(c.label for c in first) == {"positive": 6, "negative": 10, "noise": 3}
    assert all(c.text == "hey jarvis" for c in first if c.label == "positive")
    assert all(c.text != "hey jarvis" for c in first if c.label == "negative")
    assert all(c.text is None for c in first if c.label == "noise")
    assert {_engine(c) for c in first if c.label != "noise"} == {"espeak", "pico"}
    assert [(c.label, c.text, c.speaker) for c in first] == [(c.label, c.text, c.speaker) for c in again]
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(first, again, strict=True))
    assert [c.speaker for c in first] != [c.speaker for c in other]
    for clip in first:
        normalized = normalize_clip(to_wav_bytes(clip.audio), min_seconds=0.2, max_seconds=30)
        assert normalized.duration_s == pytest.approx(clip.audio.size / SAMPLE_RATE, abs=1e-3)
        assert normalized.loudness_dbfs > -60


def test_both_engines_speak_about_half_the_positives_and_half_the_negatives_each() -> None:
    clips = synthesize_set("hey jarvis", positives=9, negatives=8, seed=5, engines=["pico", "espeak"])

    positives = Counter(_engine(c) for c in clips if c.label == "positive")
    assert positives in ({"espeak": 5, "pico": 4}, {"espeak": 4, "pico": 5})
    assert Counter(_engine(c) for c in clips if c.label == "negative") == {"espeak": 4, "pico": 4}
    pico_speakers = [c.speaker for c in clips if _engine(c) == "pico"]
    parsed = [re.fullmatch(r"pico:en-(?:GB|US)@s(\d\.\d\d)p(\d\.\d\d)", s) for s in pico_speakers]
    assert all(parsed), pico_speakers
    assert all(0.75 <= float(m[1]) <= 1.35 and 0.75 <= float(m[2]) <= 1.35 for m in parsed if m)
    assert len(set(pico_speakers)) > len(pico_speakers) // 2


def test_one_engine_speaks_alone_when_asked() -> None:
    espeak = synthesize_set("hey jarvis", positives=3, negatives=3, seed=1, engines=["espeak"])
    pico = synthesize_set("hey jarvis", positives=3, negatives=3, seed=1, engines=["pico"])

    assert {_engine(c) for c in espeak} == {"espeak"}
    assert {_engine(c) for c in pico} == {"pico"}


def test_synthesize_set_can_be_limited_to_some_voices() -> None:
    clips = synthesize_set("hey jarvis", positives=6, negatives=6, seed=3, voices=["en-us", "en-gb-x-rp"])
    voices = {clip.speaker.split(":")[1].split("+")[0].split("@")[0] for clip in clips}
    assert voices == {"en-us", "en-gb-x-rp"}
    with pytest.raises(ValueError, match=r"no 'en' voice 'en-mars'.*available: en, en-029"):
        synthesize_set("hey jarvis", positives=1, negatives=1, seed=3, voices=["en-us", "en-mars"])


def test_voices_can_name_pico_voices_too() -> None:
    clips = synthesize_set("hey jarvis", positives=4, negatives=4, seed=3, voices=["en-us", "pico:en-US"])

    assert {clip.speaker.split("@")[0].split("+")[0] for clip in clips} == {"espeak:en-us", "pico:en-US"}


def test_an_unknown_engine_or_pico_voice_is_refused_naming_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"no synthesis engine 'festival'; available: espeak, pico, piper"):
        synthesize_set("hey jarvis", positives=1, negatives=1, seed=0, engines=["espeak", "festival"])
    with pytest.raises(ValueError, match=r"Pico has no 'en' voice 'pico:en-AU'; available: pico:en-GB, pico:en-US"):
        synthesize_set("hey jarvis", positives=1, negatives=1, seed=0, voices=["pico:en-AU"])
    with pytest.raises(ValueError, match=r"espeak-ng has no 'en' voice 'pico:en-US'"):
        synthesize_set("hey jarvis", positives=1, negatives=1, seed=0, voices=["pico:en-US"], engines=["espeak"])
    with pytest.raises(ValueError, match=r"Pico has no voice for language 'nl'"):
        synthesize_set("hallo computer", language="nl", positives=1, negatives=1, seed=0, engines=["pico"])


def test_a_german_phrase_is_spoken_by_german_voices() -> None:
    clips = synthesize_set("hallo computer", language="de", positives=2, negatives=3, seed=0)

    assert Counter(c.label for c in clips) == {"positive": 2, "negative": 3}
    assert all(c.speaker.startswith(("espeak:de", "pico:de-DE@")) for c in clips)
    assert {_engine(c) for c in clips} == {"espeak", "pico"}
    assert all(_rms(c.audio) > 0.005 for c in clips)


def test_a_language_espeak_does_not_speak_is_refused_naming_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"no voice for language 'xx'.*\ben-us\b"):
        synthesize_set("hey jarvis", language="xx", positives=1, negatives=1, seed=0)
    with pytest.raises(ValueError, match="no voice for language"):
        EspeakSynthesizer("klingon")


def test_synth_command_writes_clips_and_manifest(tmp_path) -> None:
    out = tmp_path / "set"

    result = CliRunner().invoke(
        main, ["synth", "hey jarvis", "--out", str(out), "--positives", "3", "--negatives", "4", "--noise", "2"]
    )

    assert result.exit_code == 0, result.output
    assert "3 positive, 4 negative and 2 noise clips" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["file"] for e in manifest["clips"]][:3] == ["positive/0000.wav", "positive/0001.wav", "positive/0002.wav"]
    assert Counter(e["label"] for e in manifest["clips"]) == {"positive": 3, "negative": 4, "noise": 2}
    for entry in manifest["clips"]:
        info = sf.info(out / entry["file"])
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert set(entry) >= {"text", "speaker", "label"}


def test_synth_command_speaks_with_the_engines_it_is_given(tmp_path) -> None:
    args = ["synth", "hey jarvis", "--positives", "2", "--negatives", "2", "--noise", "0"]

    pico = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a"), "--engine", "pico"])
    bogus = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b"), "--engine", "festival"])

    assert pico.exit_code == 0, pico.output
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert {e["speaker"].split(":")[0] for e in manifest["clips"]} == {"pico"}
    assert bogus.exit_code == 2 and "festival" in bogus.output


def test_synth_command_refuses_an_unknown_language_and_a_used_folder(tmp_path) -> None:
    unknown = CliRunner().invoke(main, ["synth", "hey jarvis", "--out", str(tmp_path / "a"), "--language", "xx"])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "old.wav").write_bytes(b"")
    used = CliRunner().invoke(main, ["synth", "hey jarvis", "--out", str(tmp_path / "b")])

    assert unknown.exit_code == 2 and "no voice for language 'xx'" in unknown.output
    assert used.exit_code == 2 and "not empty" in used.output
