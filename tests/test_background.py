"""The background speech bank: minutes of many voices and languages talking, the same for a seed, made once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worker.training.background import (
    bank_path,
    build_speech_bank,
    english_sentence,
    load_or_build_speech_bank,
    pseudo_sentence,
)

pytestmark = pytest.mark.unit


def test_the_bank_is_as_long_as_asked_and_mostly_speech() -> None:
    bank = build_speech_bank(20.0, seed=3)
    assert bank.dtype == np.int16 and bank.size == 20 * 16_000
    frames = bank[: bank.size // 160 * 160].astype(np.float32).reshape(-1, 160)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 32768 * 10 ** (-50 / 20)
    assert 0.5 < loud.mean() < 0.98, "speech with pauses between utterances"


def test_the_same_seed_gives_the_same_bank_and_another_seed_another() -> None:
    # Each is made in a fresh process: espeak-ng carries state from one utterance to the next within one.
    first = load_or_build_speech_bank(None, 5.0, seed=1)
    assert np.array_equal(first, load_or_build_speech_bank(None, 5.0, seed=1))
    assert not np.array_equal(first, load_or_build_speech_bank(None, 5.0, seed=2))


def test_a_cached_bank_is_read_back_instead_of_made_again(tmp_path: Path) -> None:
    first = load_or_build_speech_bank(tmp_path, 4.0, seed=0)
    cached = bank_path(tmp_path, 4.0, 0)
    assert cached.is_file() and first.dtype == np.float32 and np.abs(first).max() <= 1.0
    stamp = cached.stat().st_mtime_ns
    again = load_or_build_speech_bank(tmp_path, 4.0, seed=0)
    assert np.array_equal(first, again) and cached.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [cached.name], "no partial files left behind"


def test_texts_are_everyday_sentences_and_made_up_words_never_a_wake_phrase() -> None:
    rng = np.random.default_rng(0)
    texts = [english_sentence(rng) for _ in range(200)] + [pseudo_sentence(rng) for _ in range(200)]
    assert len(set(texts)) > 300
    assert not any("jarvis" in text or "alexa" in text for text in texts)
