"""The validation split: whole speakers on one side, both classes held out when possible, a random fallback."""

from __future__ import annotations

import numpy as np
import pytest

from worker.training.data import ValidationSplit, split_clips, split_validation

pytestmark = pytest.mark.unit


def random_layout(rng: np.random.Generator) -> tuple[np.ndarray, list[str | None]]:
    """Labels and speakers of a random dataset: a few to many speakers, some clips with no speaker."""
    n_clips = int(rng.integers(4, 80))
    n_speakers = int(rng.integers(1, 12))
    unknown_share = rng.choice([0.0, 0.0, 0.2, 0.6])
    labels = rng.integers(0, 2, size=n_clips)
    labels[:2] = [1, 0]  # both classes present, as training requires
    speakers: list[str | None] = [
        None if rng.random() < unknown_share else f"speaker-{int(rng.integers(n_speakers))}" for _ in range(n_clips)
    ]
    if all(s is None for s in speakers):
        speakers[0] = "speaker-0"
    return labels, speakers


def speakers_of(split_side: np.ndarray, speakers: list[str | None]) -> set[str]:
    return {speakers[i] for i in split_side if speakers[i] is not None}


def test_no_speaker_is_on_both_sides_of_the_split() -> None:
    layouts = np.random.default_rng(1234)
    for _ in range(200):
        labels, speakers = random_layout(layouts)
        split = split_clips(labels, speakers, np.random.default_rng(int(layouts.integers(1 << 30))))
        assert split.by_speaker
        assert not speakers_of(split.train, speakers) & speakers_of(split.val, speakers)
        assert np.array_equal(np.sort(np.concatenate([split.train, split.val])), np.arange(labels.size))
        assert set(labels[split.train]) == {0, 1}, "training always keeps both classes"


def test_validation_holds_out_about_the_fraction_with_both_classes_when_speakers_allow() -> None:
    speakers = [f"s{i}" for i in range(20) for _ in range(10)]
    labels = np.array([1, 0] * 100)
    split = split_clips(labels, speakers, np.random.default_rng(0), fraction=0.2)
    assert set(labels[split.val]) == {0, 1}
    assert 0.15 <= split.val.size / labels.size <= 0.25
    assert split.level == "info"
    assert "by speaker" in split.message and "4 of 20 speakers" in split.message


def test_split_is_deterministic_under_a_seed_and_varies_with_it() -> None:
    labels, speakers = random_layout(np.random.default_rng(5))
    labels = np.tile(labels, 3)
    speakers = [f"{s}-{k}" if s else None for k in range(3) for s in speakers]

    def val(seed: int) -> np.ndarray:
        return split_clips(labels, speakers, np.random.default_rng(seed)).val

    assert np.array_equal(val(7), val(7))
    assert any(not np.array_equal(val(7), val(seed)) for seed in range(8, 12))


def test_without_any_speaker_the_split_is_random_by_clip_and_says_so() -> None:
    labels = np.array([1] * 10 + [0] * 15)
    split = split_clips(labels, [None] * 25, np.random.default_rng(3))
    assert not split.by_speaker
    assert "by clip" in split.message and "no clip names its speaker" in split.message
    # The same split the trainer's call without speakers has always made.
    train, val = split_validation(labels, np.random.default_rng(3))
    assert np.array_equal(split.train, train) and np.array_equal(split.val, val)
    assert (labels[val] == 1).sum() == 2 and (labels[val] == 0).sum() == 3


def test_blank_speaker_names_count_as_unknown() -> None:
    labels = np.array([1, 0] * 5)
    split = split_clips(labels, ["", "  "] * 5, np.random.default_rng(0))
    assert not split.by_speaker


def test_clips_without_a_speaker_are_split_by_clip_beside_the_speakers() -> None:
    labels = np.array([1, 0] * 10 + [0] * 10)
    speakers = [f"s{i % 5}" for i in range(20)] + [None] * 10
    split = split_clips(labels, speakers, np.random.default_rng(0))
    assert split.by_speaker
    assert "10 clips without a speaker split by clip" in split.message
    unknown = np.arange(20, 30)
    assert np.isin(unknown, split.val).sum() == 2  # a fifth of the unknown negatives
    assert not speakers_of(split.train, speakers) & speakers_of(split.val, speakers)


def test_when_one_speaker_recorded_every_positive_validation_has_none_and_the_split_warns() -> None:
    labels = np.array([1] * 10 + [0] * 10)
    speakers = ["me"] * 10 + [f"other-{i % 4}" for i in range(10)]
    split = split_clips(labels, speakers, np.random.default_rng(0))
    assert (labels[split.val] == 0).any() and not (labels[split.val] == 1).any()
    assert split.level == "warning" and "no positive clip" in split.message
    assert "me" not in speakers_of(split.val, speakers)


def test_a_single_speaker_for_everything_leaves_validation_empty_and_warns() -> None:
    labels = np.array([1, 0] * 6)
    split = split_clips(labels, ["me"] * 12, np.random.default_rng(0))
    assert split.val.size == 0 and split.train.size == 12
    assert split.level == "warning" and "nothing held out" in split.message


def test_split_validation_accepts_speakers_and_keeps_its_tuple_return() -> None:
    labels = np.array([1, 0] * 10)
    speakers = [f"s{i % 5}" for i in range(20)]
    train, val = split_validation(labels, np.random.default_rng(0), speakers=speakers)
    assert not speakers_of(train, speakers) & speakers_of(val, speakers)
    assert isinstance(split_clips(labels, speakers, np.random.default_rng(0)), ValidationSplit)


def test_a_speaker_list_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="3 speakers for 4 clips"):
        split_clips(np.array([1, 0, 1, 0]), ["a", "b", "c"], np.random.default_rng(0))
