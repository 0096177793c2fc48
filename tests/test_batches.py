"""Training batches: background-stream crops, class balance, and the same batches whether made ahead or inline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worker.training.augment import AugmentConfig, Augmenter
from worker.training.batches import BackgroundStream, BatchMaker, NegativeMix, Prefetcher
from worker.training.data import BalancedSampler, user_clips, user_weighting

pytestmark = pytest.mark.unit

WINDOW = 4_000


def _clips() -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    # Positives are loud and negatives quiet, each clip a constant level, so rows show where they came from.
    clips = [np.full(3_000, 0.5, dtype=np.float32) for _ in range(6)]
    clips += [np.full(int(rng.integers(2_000, 6_000)), 0.01 * (i + 1), dtype=np.float32) for i in range(10)]
    return clips, np.array([1] * 6 + [0] * 10)


def _maker(
    seed: int, *, augment: bool = False, speech: BackgroundStream | None = None, mix: NegativeMix | None = None
) -> BatchMaker:
    clips, labels = _clips()
    rng = np.random.default_rng(seed)
    indices = np.arange(labels.size)
    augmenter = Augmenter(AugmentConfig(), WINDOW, rir_bank=np.eye(1, 64, dtype=np.float32)) if augment else None
    return BatchMaker(
        clips,
        labels,
        BalancedSampler(indices, labels, 8, rng),
        WINDOW,
        rng,
        seed=seed,
        device=torch.device("cpu"),
        augmenter=augmenter,
        background=BackgroundStream([clips[i] for i in indices[labels == 0]], rng),
        speech=speech,
        mix=mix,
    )


def test_background_crops_are_windows_cut_from_the_negatives_end_to_end() -> None:
    clips, labels = _clips()
    negatives = [clips[i] for i in range(labels.size) if labels[i] == 0]
    stream = BackgroundStream(negatives, np.random.default_rng(1))
    assert stream.audio.size == sum(clip.size for clip in negatives)
    crops = stream.crops(50, WINDOW, np.random.default_rng(2))
    assert crops.shape == (50, WINDOW)
    # Every crop is a contiguous piece of the stream; some straddle two clips (two levels in one window).
    for crop in crops:
        assert any(np.array_equal(crop, stream.audio[s : s + WINDOW]) for s in np.flatnonzero(stream.audio == crop[0]))
    assert any(np.unique(crop).size > 1 for crop in crops)


def test_a_stream_shorter_than_the_window_is_zero_padded() -> None:
    stream = BackgroundStream([np.ones(100, dtype=np.float32)], np.random.default_rng(0))
    crops = stream.crops(3, 300, np.random.default_rng(0))
    assert crops.shape == (3, 300) and crops[:, :100].min() == 1 and crops[:, 100:].max() == 0


def test_batches_are_balanced_and_some_negative_rows_come_from_the_background() -> None:
    maker = _maker(0)
    batches = [maker.make() for _ in range(20)]
    for batch in batches:
        assert batch.audio.shape == (8, WINDOW)
        assert batch.labels.sum().item() == 4
        assert torch.all(batch.audio[batch.labels == 1].abs().max(dim=1).values == 0.5)
    negative_rows = torch.cat([b.audio[b.labels == 0] for b in batches])
    straddling = [row for row in negative_rows if torch.unique(row[row != 0]).numel() > 1]
    assert straddling, "background crops straddle clips"


@pytest.mark.parametrize("augment", [False, True])
def test_made_ahead_on_a_thread_the_batches_are_the_ones_made_inline(augment: bool) -> None:
    maker = _maker(3, augment=augment)
    inline = [maker.make() for _ in range(6)]
    with Prefetcher(_maker(3, augment=augment), threaded=True) as ahead:
        threaded = [next(ahead) for _ in range(6)]
    for a, b in zip(inline, threaded, strict=True):
        assert torch.equal(a.audio, b.audio) and torch.equal(a.labels, b.labels)


def test_an_error_while_making_a_batch_reaches_the_training_loop() -> None:
    class Broken:
        def make(self) -> None:
            raise RuntimeError("disk gone")

    with Prefetcher(Broken(), threaded=True) as ahead, pytest.raises(RuntimeError, match="disk gone"):  # type: ignore[arg-type]
        next(ahead)


SPEECH_LEVEL = 0.2


def _speech() -> BackgroundStream:
    return BackgroundStream([np.full(20_000, SPEECH_LEVEL, dtype=np.float32)], np.random.default_rng(0))


def test_negative_rows_come_from_clips_background_speech_and_positives_cut_short() -> None:
    mix = NegativeMix(babble_probability=0.0)
    maker = _maker(0, speech=_speech(), mix=mix)
    rows = torch.cat([b.audio[b.labels == 0] for b in (maker.make() for _ in range(200))])
    from_speech = [row for row in rows if torch.all(row == SPEECH_LEVEL)]
    cut = [row for row in rows if row.max() == 0.5]
    assert len(from_speech) / len(rows) == pytest.approx(mix.speech_share, abs=0.06)
    assert len(cut) / len(rows) == pytest.approx(mix.cut_phrase_share, abs=0.04)
    # A positive clip is 3,000 samples: a cut keeps 30-75% of it, never the whole phrase.
    lengths = [int((row == 0.5).sum()) for row in cut]
    assert min(lengths) >= 0.3 * 3_000 - 1 and max(lengths) <= 0.75 * 3_000 + 1


def test_babble_goes_under_positive_rows_at_the_drawn_snr() -> None:
    maker = _maker(1, speech=_speech(), mix=NegativeMix(babble_probability=1.0, babble_snr_db=(10.0, 10.0)))
    batch = maker.make()
    assert batch.labels.sum() == 4
    for row in batch.audio[batch.labels == 1]:
        # The speech is a constant level, so the quietest sample of the mix is all speech and the rest is the clip.
        speech = row.min()
        clean = row - speech
        assert speech > 0
        assert 10 * torch.log10(clean.square().mean() / speech**2) == pytest.approx(10.0, abs=1e-3)


# The user's own clips: drawn more often, and a share of every batch kept for them.


def _user_sampler(
    *, weight: float, share: float, seed: int = 0, batch: int = 16
) -> tuple[BalancedSampler, np.ndarray, np.ndarray]:
    """40 positives (4 of them the user's) and 60 negatives (6 the user's), all on the training side."""
    labels = np.array([1] * 40 + [0] * 60)
    user = np.zeros(labels.size, dtype=bool)
    user[[0, 1, 2, 3, 40, 41, 42, 43, 44, 45]] = True
    sampler = BalancedSampler(
        np.arange(labels.size),
        labels,
        batch,
        np.random.default_rng(seed),
        user=user,
        user_weight=weight,
        user_share=share,
    )
    return sampler, labels, user


def test_the_users_clips_fill_their_share_of_the_rows_of_each_label_in_every_batch() -> None:
    sampler, labels, user = _user_sampler(weight=1.0, share=0.25)
    assert (sampler.user_positives.size, sampler.user_negatives.size) == (4, 6)
    for _ in range(300):
        batch = sampler.draw()
        for value in (1, 0):
            rows = batch[labels[batch] == value]
            assert user[rows].sum() >= np.ceil(0.25 * rows.size), (value, rows)


def test_the_users_clips_are_drawn_weight_times_as_often_as_the_others_of_their_label() -> None:
    sampler, labels, user = _user_sampler(weight=4.0, share=0.0)
    counts = np.bincount(np.concatenate([sampler.draw() for _ in range(3000)]), minlength=labels.size)
    for value in (1, 0):
        mine, others = counts[(labels == value) & user].mean(), counts[(labels == value) & ~user].mean()
        assert mine / others == pytest.approx(4.0, rel=0.1), value


def test_share_and_weight_together_give_the_users_clips_their_expected_part_of_each_label() -> None:
    sampler, labels, user = _user_sampler(weight=4.0, share=0.25)
    drawn = np.concatenate([sampler.draw() for _ in range(3000)])
    for value, (mine, others) in ((1, (4, 36)), (0, (6, 54))):
        rows = drawn[labels[drawn] == value]
        expected = 0.25 + 0.75 * 4 * mine / (4 * mine + others)
        assert user[rows].mean() == pytest.approx(expected, abs=0.02), value


def test_without_the_users_clips_the_batches_are_those_of_the_plain_sampler() -> None:
    labels = np.array([1] * 10 + [0] * 20)
    indices = np.arange(labels.size)
    plain = BalancedSampler(indices, labels, 9, np.random.default_rng(3))
    nobody = BalancedSampler(
        indices, labels, 9, np.random.default_rng(3), user=np.zeros(30, dtype=bool), user_weight=4.0, user_share=0.25
    )
    for _ in range(20):
        assert np.array_equal(plain.draw(), nobody.draw())


def test_the_users_clips_are_recordings_and_uploads_that_name_a_speaker() -> None:
    sources = ["recording", "upload", "synthetic", "recording", "upload", None]
    speakers = ["ana", "ben", "espeak-en", None, "  ", "ana"]
    assert user_clips(sources, speakers).tolist() == [True, True, False, False, False, False]


def test_the_users_clips_count_more_only_when_they_are_on_both_sides_of_training() -> None:
    labels = np.array([1] * 10 + [0] * 10)
    train = np.arange(16)  # clips 16-19, negatives, are held out for validation
    both = np.zeros(20, dtype=bool)
    both[[0, 1, 10, 11]] = True
    assert user_weighting(both, labels, train, weight=4.0, share=0.25) == (4.0, 0.25, None)

    only_takes = np.zeros(20, dtype=bool)
    only_takes[[0, 1, 2]] = True
    # Their negatives exist but are all held out for validation: training would still see one side only.
    only_takes[[17, 18]] = True
    weight, share, warning = user_weighting(only_takes, labels, train, weight=4.0, share=0.25)
    assert (weight, share) == (1.0, 0.0)
    assert warning is not None and "all positive" in warning and "room" in warning

    only_room = np.zeros(20, dtype=bool)
    only_room[[12, 13]] = True
    assert user_weighting(only_room, labels, train, weight=4.0, share=0.25)[:2] == (1.0, 0.0)
    assert user_weighting(np.zeros(20, dtype=bool), labels, train, weight=4.0, share=0.25).warning is None
    assert user_weighting(only_takes, labels, train, weight=1.0, share=0.0).warning is None


def test_the_users_negatives_keep_their_rows_when_other_negative_rows_are_replaced_by_background() -> None:
    # 4 positives, 12 negatives; the last 3 negatives are the user's (a level of their own: 0.3).
    clips = [np.full(3_000, 0.5, dtype=np.float32) for _ in range(4)]
    clips += [np.full(3_000, 0.01, dtype=np.float32) for _ in range(9)]
    clips += [np.full(3_000, 0.3, dtype=np.float32) for _ in range(3)]
    labels = np.array([1] * 4 + [0] * 12)
    user = np.zeros(labels.size, dtype=bool)
    user[[0, 13, 14, 15]] = True
    rng = np.random.default_rng(0)
    sampler = BalancedSampler(np.arange(labels.size), labels, 16, rng, user=user, user_weight=1.0, user_share=0.25)
    maker = BatchMaker(
        clips,
        labels,
        sampler,
        WINDOW,
        rng,
        seed=0,
        device=torch.device("cpu"),
        augmenter=None,
        background=BackgroundStream(clips[4:13], rng),
        speech=_speech(),
        mix=NegativeMix(babble_probability=0.0),
    )
    for _ in range(50):
        rows = maker.make().audio[8:]  # the sampler puts the user's rows first among the negatives
        users = [row for row in rows if row.max() == pytest.approx(0.3)]
        # The sampler keeps 2 of the 8 negative rows for the user's clips; none of them is replaced.
        assert len(users) >= 2
