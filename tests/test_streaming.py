"""Streaming evaluation: scores over long streams, false accepts per hour, FRR, the error curve and calibration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from worker.training.streaming import (
    calibrate_threshold,
    clip_max_scores,
    count_detections,
    detection_error_curve,
    false_accepts_per_hour,
    false_reject_rate,
    stream_scores,
    tail_threshold,
    window_count,
)

pytestmark = pytest.mark.unit

HOP_S = 0.1
HOUR = 36_000  # hops of 0.1 s in an hour


def hour_with_spikes(*spikes: tuple[float, float, float]) -> np.ndarray:
    """An hour of zero scores with (start_s, length_s, height) spikes."""
    scores = np.zeros(HOUR, dtype=np.float32)
    for start_s, length_s, height in spikes:
        start = round(start_s / HOP_S)
        scores[start : start + max(1, round(length_s / HOP_S))] = height
    return scores


def mean_score(windows: np.ndarray) -> np.ndarray:
    """A stand-in model: each window's mean, so every window's score depends on all of its samples."""
    return windows.astype(np.float64).mean(axis=1)


def test_three_separated_spikes_in_an_hour_are_three_false_accepts_per_hour() -> None:
    scores = hour_with_spikes((100, 0.1, 0.9), (1200, 0.3, 0.7), (3000, 0.2, 1.0))

    fa = false_accepts_per_hour(scores, 0.5, hop_s=HOP_S, refractory_s=1.0, duration_s=3600)

    assert fa == pytest.approx(3.0)


def test_a_spike_lasting_half_a_second_counts_once_with_a_one_second_refractory() -> None:
    scores = hour_with_spikes((60, 0.5, 0.9))

    assert count_detections(scores, 0.5, hop_s=HOP_S, refractory_s=1.0) == [600]


def test_two_spikes_two_seconds_apart_count_twice() -> None:
    scores = hour_with_spikes((60, 0.3, 0.9), (62, 0.3, 0.9))

    assert count_detections(scores, 0.5, hop_s=HOP_S, refractory_s=1.0) == [600, 620]


def test_a_hit_exactly_one_refractory_period_later_counts_again_and_one_hop_sooner_does_not() -> None:
    scores = np.zeros(100)
    scores[[10, 20, 29, 40]] = 1.0

    assert count_detections(scores, 0.5, hop_s=HOP_S, refractory_s=1.0) == [10, 20, 40]


def test_a_score_held_high_fires_again_after_each_refractory_period() -> None:
    # As a device does: after its refractory period it fires again if the model still says wake.
    scores = hour_with_spikes((60, 2.5, 0.9))

    assert count_detections(scores, 0.5, hop_s=HOP_S, refractory_s=1.0) == [600, 610, 620]


def test_no_refractory_counts_every_hop_above_threshold() -> None:
    scores = hour_with_spikes((60, 0.5, 0.9))

    assert len(count_detections(scores, 0.5, hop_s=HOP_S, refractory_s=0.0)) == 5


def test_a_threshold_above_every_spike_gives_no_false_accepts() -> None:
    scores = hour_with_spikes((100, 0.1, 0.9), (1200, 0.3, 0.7))

    assert false_accepts_per_hour(scores, 0.95, hop_s=HOP_S, refractory_s=1.0, duration_s=3600) == 0.0


def test_false_accepts_scale_to_the_hour_for_a_shorter_stream() -> None:
    scores = np.zeros(6000)  # ten minutes
    scores[1000] = 1.0

    assert false_accepts_per_hour(scores, 0.5, hop_s=HOP_S, refractory_s=1.0, duration_s=600) == pytest.approx(6.0)


def test_a_score_equal_to_the_threshold_fires_and_the_next_float_up_does_not() -> None:
    scores = np.array([0.0, 0.7, 0.0], dtype=np.float32)
    just_above = float(np.nextafter(np.float64(scores[1]), np.inf))

    assert count_detections(scores, float(scores[1]), hop_s=HOP_S, refractory_s=1.0) == [1]
    assert count_detections(scores, just_above, hop_s=HOP_S, refractory_s=1.0) == []


def test_false_reject_rate_is_the_share_of_clips_whose_best_score_is_below_threshold() -> None:
    positives = np.array([0.1, 0.4, 0.5, 0.9])

    assert false_reject_rate(positives, 0.5) == pytest.approx(0.5)
    assert false_reject_rate(positives, 0.0) == 0.0
    assert false_reject_rate(positives, 0.95) == 1.0
    assert np.isnan(false_reject_rate(np.array([]), 0.5))


def test_the_curve_is_ascending_in_threshold_with_fa_non_increasing_and_frr_non_decreasing() -> None:
    rng = np.random.default_rng(0)
    negatives = rng.beta(1, 8, size=HOUR)  # a noisy model's scores on an hour of negatives
    positives = rng.beta(6, 2, size=200)

    curve = detection_error_curve(positives, negatives, hop_s=HOP_S, refractory_s=1.0, duration_s=3600)

    thresholds = [point["threshold"] for point in curve]
    fa = [point["fa_per_hour"] for point in curve]
    frr = [point["frr"] for point in curve]
    assert thresholds == sorted(thresholds)
    assert thresholds[0] == 0.0
    assert len(curve) >= 200
    assert all(a >= b for a, b in itertools.pairwise(fa))
    assert all(a <= b for a, b in itertools.pairwise(frr))
    assert fa[0] > 0 and fa[-1] == 0.0 and frr[-1] == 1.0


def test_the_default_curve_includes_the_point_just_above_each_negative_when_scores_are_few() -> None:
    negatives = hour_with_spikes((100, 0.1, 0.83), (900, 0.1, 0.61))
    positives = np.array([0.7, 0.9])

    curve = detection_error_curve(positives, negatives, hop_s=HOP_S, refractory_s=1.0, duration_s=3600)
    calibration = calibrate_threshold(curve, target_fa_per_hour=0.0)

    # Zero FA/h is reached just above 0.83 (in float32), not at the next grid step 0.835.
    assert float(np.float32(0.83)) < calibration["threshold"] < 0.8301
    assert calibration["frr"] == 0.5


def test_explicit_thresholds_are_used_as_given() -> None:
    curve = detection_error_curve(
        np.array([0.8]), np.zeros(100), hop_s=HOP_S, refractory_s=1.0, duration_s=10, thresholds=[0.9, 0.1, 0.5]
    )

    assert [point["threshold"] for point in curve] == [0.1, 0.5, 0.9]
    assert [point["frr"] for point in curve] == [0.0, 0.0, 1.0]


def test_calibration_picks_the_lowest_threshold_meeting_the_target() -> None:
    # One spike at each of 0.905, 0.805 and 0.705, and a lower one: FA/h is 3 up to 0.70, 2 up to 0.80, 1 up to 0.90.
    negatives = hour_with_spikes((100, 0.1, 0.905), (1000, 0.1, 0.805), (2000, 0.1, 0.705), (3000, 0.1, 0.3))
    positives = np.array([0.75, 0.85, 0.95, 0.99])
    curve = detection_error_curve(
        positives, negatives, hop_s=HOP_S, refractory_s=1.0, duration_s=3600, thresholds=np.linspace(0, 1, 101)
    )

    two = calibrate_threshold(curve, target_fa_per_hour=2.0)
    one = calibrate_threshold(curve, target_fa_per_hour=1.0)
    half = calibrate_threshold(curve)

    assert two == {
        "threshold": pytest.approx(0.71),
        "frr": 0.0,
        "fa_per_hour": 2.0,
        "target_fa_per_hour": 2.0,
        "met_target": True,
    }
    assert one["threshold"] == pytest.approx(0.81) and one["frr"] == 0.25 and one["fa_per_hour"] == 1.0
    assert half["threshold"] == pytest.approx(0.91) and half["frr"] == 0.5 and half["fa_per_hour"] == 0.0
    assert half["target_fa_per_hour"] == 0.5 and half["met_target"] is True


def test_the_tail_estimate_extrapolates_an_exponential_logit_tail_to_the_target_rate() -> None:
    # Negative logits drawn from a standard exponential (shifted to -8): P(logit > x) = exp(-(x + 8)).
    rng = np.random.default_rng(0)
    logits = -8 + rng.exponential(1.0, size=200_000)
    scores = 1 / (1 + np.exp(-logits))
    estimate = tail_threshold(scores, 0.5, hop_s=HOP_S)
    assert estimate is not None
    # 0.5 FA/h at 36,000 windows an hour is a per-window chance of 1/72,000: logit -8 + ln(72,000) = 3.18.
    expected = -8 + np.log(72_000)
    assert np.log(estimate["threshold"] / (1 - estimate["threshold"])) == pytest.approx(expected, abs=0.1)
    assert estimate["tail_windows"] == 20_000
    assert estimate["tail_scale_logit"] == pytest.approx(1.0, abs=0.03)


def test_the_tail_estimate_needs_enough_windows_and_rises_as_the_target_falls() -> None:
    scores = np.random.default_rng(1).uniform(0.0, 0.3, size=500)
    assert tail_threshold(scores[:100], 0.5, hop_s=HOP_S) is None
    strict, loose = (tail_threshold(scores, target, hop_s=HOP_S) for target in (0.1, 10.0))
    assert strict is not None and loose is not None
    assert strict["threshold"] > loose["threshold"] > scores.max() * 0.9


def test_calibration_that_cannot_meet_the_target_returns_the_highest_threshold_flagged() -> None:
    negatives = np.ones(HOUR)
    curve = detection_error_curve(
        np.array([1.0]), negatives, hop_s=HOP_S, refractory_s=1.0, duration_s=3600, thresholds=[0.2, 0.6, 1.0]
    )

    calibration = calibrate_threshold(curve, target_fa_per_hour=0.5)

    assert calibration["threshold"] == 1.0
    assert calibration["met_target"] is False
    assert calibration["fa_per_hour"] == 3600.0


def test_stream_scores_equal_scoring_every_window_at_once() -> None:
    audio = np.random.default_rng(1).standard_normal(5_000).astype(np.float32)
    window, hop = 800, 160
    count = window_count(audio.size, window=window, hop=hop)
    padded = np.concatenate([audio, np.zeros((count - 1) * hop + window - audio.size, dtype=np.float32)])
    every_window = np.stack([padded[i * hop : i * hop + window] for i in range(count)])

    scores = stream_scores(mean_score, audio, window=window, hop=hop)

    assert count == 1 + int(np.ceil((5_000 - 800) / 160))
    np.testing.assert_allclose(scores, mean_score(every_window).astype(np.float32), rtol=0, atol=0)


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 10_000])
def test_chunked_scoring_gives_identical_scores_for_any_chunk_size(chunk: int) -> None:
    audio = np.random.default_rng(2).standard_normal(16_000 * 3).astype(np.float32)
    batches: list[int] = []

    def score(windows: np.ndarray) -> np.ndarray:
        batches.append(len(windows))
        return mean_score(windows)

    reference = stream_scores(mean_score, audio, window=16_000, hop=1_600, chunk=100_000)
    scores = stream_scores(score, audio, window=16_000, hop=1_600, chunk=chunk)

    np.testing.assert_array_equal(scores, reference)
    assert max(batches) <= chunk
    assert sum(batches) == len(reference) == 21


def test_the_last_partial_window_is_scored_and_short_or_empty_audio_is_handled() -> None:
    ones = np.ones(1_000, dtype=np.float32)

    assert stream_scores(mean_score, ones, window=400, hop=250).tolist() == pytest.approx([1, 1, 1, 0.625])
    assert stream_scores(mean_score, ones[:100], window=400, hop=300).tolist() == pytest.approx([0.25])
    assert stream_scores(mean_score, ones[:0], window=400, hop=300).size == 0


def test_a_scorer_returning_the_wrong_number_of_scores_is_an_error() -> None:
    with pytest.raises(ValueError, match="returned 1 scores for 3 windows"):
        stream_scores(lambda w: np.zeros(1), np.zeros(1_000), window=400, hop=300)


def test_clip_max_scores_is_each_clips_best_window() -> None:
    clips = [np.zeros(500), np.concatenate([np.zeros(600), np.ones(400)]), np.full(100, 0.5)]

    scores = clip_max_scores(mean_score, clips, window=400, hop=200, chunk=2)

    np.testing.assert_allclose(scores, [0.0, 1.0, 0.125])
