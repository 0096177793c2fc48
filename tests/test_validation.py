"""Validation audio: near-miss phrases kept apart from background, and the threshold calibrated on background."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worker.training.model import WakeWordModel
from worker.training.validation import EPOCH_BANK_S, ValidationAudio, epoch_rank, streaming_metrics

pytestmark = pytest.mark.unit

SR = 16_000


def _clip(seconds: float, seed: int) -> np.ndarray:
    return (0.05 * np.random.default_rng(seed).standard_normal(round(seconds * SR))).astype(np.float32)


def test_short_negatives_are_phrases_and_noise_and_long_recordings_are_background() -> None:
    audio = [_clip(1.0, 0), _clip(1.2, 1), _clip(2.0, 2), _clip(10.0, 3), _clip(1.5, 4)]
    labels = np.array([1, 0, 0, 0, 0])
    kinds = ["positive", "negative", "negative", "negative", "noise"]
    held = ValidationAudio.from_clips(audio, labels, kinds, np.arange(5))
    assert [clip.size for clip in held.positives] == [SR]
    assert [clip.size for clip in held.phrases] == [round(1.2 * SR), 2 * SR]
    assert [clip.size for clip in held.background] == [10 * SR, round(1.5 * SR)]
    assert held.background_s == pytest.approx(11.5)


@pytest.mark.parametrize(("background_s", "calibrated_on"), [(30.0, "all negatives"), (90.0, "background")])
def test_the_threshold_is_calibrated_on_background_when_there_is_enough_of_it(
    background_s: float, calibrated_on: str
) -> None:
    torch.manual_seed(0)
    model = WakeWordModel("tiny").eval()
    held = ValidationAudio(
        positives=[_clip(1.0, i) for i in range(4)],
        phrases=[_clip(1.0, 10 + i) for i in range(6)],
        background=[_clip(background_s / 3, 99)],
        bank=_clip(2 * background_s / 3, 98),
    )
    evaluation = held.calibrate(model, torch.device("cpu"), window=SR, target=0.5)
    assert evaluation["calibrated_on"] == calibrated_on
    expected_s = background_s + (0 if calibrated_on == "background" else 6.0)
    assert evaluation["negative_audio_s"] == pytest.approx(expected_s, abs=1e-3)
    # Each phrase is exactly one window long, so its score is the model's output on it.
    with torch.no_grad():
        scores = model(torch.from_numpy(np.stack(held.phrases))).numpy()
    threshold = evaluation["calibration"]["threshold"]
    assert evaluation["near_miss_clips"] == 6
    assert evaluation["near_miss_accept_rate"] == pytest.approx(np.mean(scores >= threshold))


def test_epochs_hear_the_start_of_the_speech_bank_and_the_threshold_all_of_it() -> None:
    held = ValidationAudio(positives=[_clip(1.0, 0)], phrases=[_clip(1.0, 1)], bank=np.zeros(600 * SR, np.float32))
    assert sum(clip.size for clip in held.negatives) == (1 + EPOCH_BANK_S) * SR
    assert held.background_s == 600.0


def test_each_epoch_is_judged_on_the_users_held_out_takes_when_validation_has_them() -> None:
    torch.manual_seed(0)
    model = WakeWordModel("tiny").eval()
    held = ValidationAudio(
        positives=[_clip(1.0, i) for i in range(4)],
        phrases=[_clip(1.0, 10 + i) for i in range(6)],
        background=[_clip(30.0, 99)],
        user_positives=np.array([False, False, True, True]),
    )
    figures = streaming_metrics(held.evaluate_epoch(model, torch.device("cpu"), window=SR, target=0.5))
    threshold = figures["val_threshold"]
    with torch.no_grad():
        takes = model(torch.from_numpy(np.stack(held.positives[2:]))).numpy()
    assert figures["val_user_frr"] == pytest.approx(np.mean(takes < threshold))
    # Without takes of the user's own, an epoch has no such figure.
    held.user_positives = None
    assert "val_user_frr" not in streaming_metrics(
        held.evaluate_epoch(model, torch.device("cpu"), window=SR, target=0.5)
    )


def test_the_epoch_kept_hears_most_of_the_users_takes_then_misses_fewest_phrases_then_has_the_lowest_loss() -> None:
    # A personalised model: the later epoch hears both takes but misses more synthetic phrases, and is kept.
    near_base = {"val_user_frr": 0.5, "val_frr": 0.40, "val_loss": 0.1}
    moved = {"val_user_frr": 0.0, "val_frr": 0.70, "val_loss": 0.2}
    assert epoch_rank(moved, 0.3) > epoch_rank(near_base, 0.3)
    # Without takes the synthetic phrases decide, and the loss breaks a tie.
    assert epoch_rank({"val_frr": 0.4, "val_loss": 0.1}, 0.3) > epoch_rank({"val_frr": 0.7, "val_loss": 0.05}, 0.3)
    assert epoch_rank({"val_frr": 0.4, "val_loss": 0.1}, 0.3) > epoch_rank({"val_frr": 0.4, "val_loss": 0.2}, 0.3)
    # Nothing calibrated: the training loss alone.
    assert epoch_rank({}, 0.3) > epoch_rank({}, 0.5)
