"""Negatives cut from the user's positive takes: their voice and room without the phrase, on their take's side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.training_config import TrainingConfig
from tests.test_finetune import my_takes
from tests.test_trainer import RATE, RecordingHooks, make_clips, shared_cache
from worker.training.counterparts import KINDS, add_counterparts, counterparts_of, speech_span
from worker.training.trainer import train

SPEECH = (round(0.6 * RATE), round(1.4 * RATE))


def a_take(seed: int = 0, floor: float = 0.01) -> np.ndarray:
    """2 s of room noise with 0.8 s of a voiced, wavering sound in the middle (0.6-1.4 s)."""
    rng = np.random.default_rng(seed)
    audio = floor * rng.standard_normal(2 * RATE)
    t = np.arange(SPEECH[1] - SPEECH[0]) / RATE
    voice = np.sin(2 * np.pi * (180 * t + 40 * np.sin(2 * np.pi * 3 * t))) * np.hanning(t.size) ** 0.25
    audio[SPEECH[0] : SPEECH[1]] += 0.3 * voice
    return audio.astype(np.float32)


def level_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(audio, dtype=np.float64))))


def test_the_speech_of_a_take_is_found_between_its_room_noise() -> None:
    start, end = speech_span(a_take())
    assert abs(start - SPEECH[0]) <= 0.05 * RATE and abs(end - SPEECH[1]) <= 0.05 * RATE


def test_a_take_with_nothing_standing_out_of_its_noise_yields_no_counterparts() -> None:
    noise = (0.05 * np.random.default_rng(1).standard_normal(2 * RATE)).astype(np.float32)
    assert speech_span(noise) is None
    assert counterparts_of(noise, np.random.default_rng(0)) == []


def test_a_take_yields_its_room_its_phrases_parts_and_its_speech_reversed_and_shuffled() -> None:
    take = a_take()
    made = dict(counterparts_of(take, np.random.default_rng(0)))
    assert tuple(made) == KINDS
    start, end = speech_span(take)
    speech, room = take[start:end], np.concatenate([take[:start], take[end:]])

    # The room is only the room: as quiet as the noise floor, none of the speech.
    np.testing.assert_array_equal(made["surroundings"], room)
    assert level_db(made["surroundings"]) < level_db(speech) - 20
    # Each part holds under half of the speech, with the room on its outer side.
    for kind, room_side in (("first part", take[:start]), ("last part", take[end:])):
        assert made[kind].size - room_side.size < 0.5 * speech.size
    assert np.array_equal(made["first part"][:start], take[:start])
    assert np.array_equal(made["last part"][-(take.size - end) :], take[end:])
    # Reversed and shuffled: the same samples of the voice, in another order, the room around them kept.
    np.testing.assert_array_equal(made["reversed"][start:end], speech[::-1])
    shuffled = made["shuffled"][start:end]
    assert not np.array_equal(shuffled, speech)
    np.testing.assert_array_equal(np.sort(shuffled), np.sort(speech))
    assert all(audio.dtype == np.float32 for audio in made.values())


def test_counterparts_are_negatives_of_the_user_on_their_takes_side_of_the_split() -> None:
    audio = [a_take(seed) for seed in range(4)] + [a_take(9)]
    labels = np.array([1, 1, 1, 1, 0])
    user = np.array([True, True, False, True, True])  # take 2 is synthetic, clip 4 a user negative
    train, val = np.array([0, 2, 4]), np.array([1, 3])

    extended = add_counterparts(
        audio, labels, ["positive"] * 4 + ["negative"], user, train, val, np.random.default_rng(0)
    )

    made = extended.made
    assert sorted(set(made.take.tolist())) == [0, 1, 3] and len(made.audio) == 3 * len(KINDS)
    added = np.arange(5, 5 + len(made.audio))
    assert (extended.labels[added] == 0).all() and extended.user[added].all()
    assert set(extended.kinds[5:]) == {"negative"}
    from_val = added[np.isin(made.take, val)]
    assert np.isin(from_val, extended.val).all() and not np.isin(from_val, extended.train).any()
    assert np.isin(added[made.take == 0], extended.train).all()
    assert np.intersect1d(extended.train, extended.val).size == 0
    assert "15 negatives cut from 3 of your positive takes" in extended.summary()


@pytest.mark.parametrize("counterparts", [True, False])
def test_takes_that_are_all_positive_count_more_only_with_counterparts(tmp_path: Path, counterparts: bool) -> None:
    clips = make_clips(tmp_path / "synthetic") + my_takes(tmp_path / "mine", positives=8, negatives=0)
    config = TrainingConfig(
        preset="tiny",
        epochs=1,
        steps_per_epoch=2,
        batch_size=8,
        seed=3,
        background_speech_s=0,
        user_counterparts=counterparts,
    )
    hooks = RecordingHooks()

    train(clips, config, tmp_path / "export", hooks, device="cpu", cache_dir=shared_cache())

    said = [message for _, message in hooks.messages]
    cut = [m for m in said if "negatives cut from" in m]
    mine = next(m for m in said if m.startswith("your own clips in training:"))
    if counterparts:
        assert len(cut) == 1 and "of your positive takes" in cut[0]
        assert "drawn 4x as often" in mine and not mine.startswith("your own clips in training: 0 positive")
        assert not any("are all positive" in m for m in said)
    else:
        assert not cut and "drawn 1x as often" in mine
        assert any("are all positive" in m for level, m in hooks.messages if level == "warning")
