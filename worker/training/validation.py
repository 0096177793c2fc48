"""The validation audio of a run, and the threshold calibrated on it.

A dataset's negatives are mostly short phrases chosen to be confusable (near misses), a few seconds of them per
minute of audio. Streamed end to end they make a far denser stream of near misses than anything a device hears,
so a false-accept rate measured on them says little about an hour of ordinary talk. Validation therefore keeps
two kinds of negative audio apart:
- background: held-out synthesized speech (see worker.training.background), noise clips and long negative
  recordings. The product's threshold is calibrated on this, so that "0.5 false accepts per hour" means an hour
  of a room with people talking, as the user reads it;
- phrases: the short negative clips. Their share that reaches the threshold is reported next to it (the
  near-miss accept rate), and every epoch is chosen on all negatives together, so near misses still shape the
  model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from worker.training.evaluate import scoring, streaming_evaluation
from worker.training.features import SAMPLE_RATE
from worker.training.model import WakeModel

PHRASE_MAX_S = 3.0
"""A negative clip up to this long is a phrase (a near miss, a word); a longer one is background."""
MIN_BACKGROUND_S = 60.0
"""Less background audio than this calibrates on all negatives together, as before there was a bank."""
EPOCH_BANK_S = 120.0
"""Seconds of the held-out speech bank each epoch is judged on; the final calibration streams all of it."""


@dataclass
class ValidationAudio:
    """The held-out positives, negative phrases and background audio of one run."""

    positives: list[np.ndarray]
    phrases: list[np.ndarray] = field(default_factory=list)
    background: list[np.ndarray] = field(default_factory=list)
    bank: np.ndarray | None = None
    """Held-out synthesized background speech (worker.training.background), apart from the dataset's own audio."""
    user_positives: np.ndarray | None = None
    """Per positive, True for the user's own take: the calibrated threshold must keep hearing those."""

    @classmethod
    def from_clips(
        cls,
        audio: list[np.ndarray],
        labels: np.ndarray,
        kinds: list[str],
        indices: np.ndarray,
        user: np.ndarray | None = None,
    ) -> ValidationAudio:
        """The held-out clips sorted by kind: positives, negative phrases, and background (noise, long clips);
        `user` (a mask over all clips) marks the user's own."""
        held = cls(positives=[audio[i] for i in indices if labels[i] == 1])
        if user is not None:
            held.user_positives = np.array([bool(user[i]) for i in indices if labels[i] == 1], dtype=bool)
        for i in indices:
            if labels[i] == 1:
                continue
            if kinds[i] == "noise" or audio[i].size > PHRASE_MAX_S * SAMPLE_RATE:
                held.background.append(audio[i])
            else:
                held.phrases.append(audio[i])
        return held

    @property
    def negatives(self) -> list[np.ndarray]:
        """The negative audio each epoch is judged on: all of the dataset's and the start of the bank."""
        bank = [] if self.bank is None else [self.bank[: round(EPOCH_BANK_S * SAMPLE_RATE)]]
        return [*self.phrases, *self.background, *bank]

    @property
    def all_background(self) -> list[np.ndarray]:
        """Background audio for the threshold: the dataset's and the whole bank."""
        return [*self.background, *([] if self.bank is None else [self.bank])]

    @property
    def background_s(self) -> float:
        """Seconds of background audio, the bank's included."""
        return sum(clip.size for clip in self.all_background) / SAMPLE_RATE

    def evaluate_epoch(self, model: WakeModel, device: torch.device, *, window: int, target: float) -> dict:
        """FRR and FA/h on all negatives at the observed threshold, and the share of the user's own takes missed
        there: the figures epochs compete on."""
        return streaming_evaluation(
            model,
            device,
            self.positives,
            self.negatives,
            window=window,
            target_fa_per_hour=target,
            extrapolate=False,
            user_positives=self.user_positives,
        )

    def calibrate(self, model: WakeModel, device: torch.device, *, window: int, target: float) -> dict:
        """The final evaluation: the threshold for `target` FA/h of background, and the near-miss accept rate there."""
        by_background = self.background_s >= MIN_BACKGROUND_S
        negatives = self.all_background if by_background else [*self.phrases, *self.all_background]
        evaluation = streaming_evaluation(
            model,
            device,
            self.positives,
            negatives,
            window=window,
            target_fa_per_hour=target,
            extrapolate=True,
            user_positives=self.user_positives,
        )
        calibration = evaluation.get("calibration")
        if not calibration:
            return evaluation
        evaluation["calibrated_on"] = "background" if by_background else "all negatives"
        if self.phrases:
            scores = scoring(model, device, window).clip_max(self.phrases)
            evaluation["near_miss_accept_rate"] = float(np.mean(scores >= calibration["threshold"]))
            evaluation["near_miss_clips"] = len(self.phrases)
        return evaluation


def streaming_metrics(evaluation: dict) -> dict[str, float]:
    """The validation FRR, FA/h and threshold at the calibration, the ROC AUC, and the share of the user's own takes
    missed there when validation has any; none without a calibration."""
    calibration = evaluation.get("calibration")
    if not calibration:
        return {}
    return {
        "val_frr": calibration["frr"],
        "val_fa_per_hour": calibration["fa_per_hour"],
        "val_threshold": calibration["threshold"],
        "val_roc_auc": evaluation["roc_auc"],
        **({"val_user_frr": calibration["user_frr"]} if "user_frr" in calibration else {}),
    }


def epoch_rank(val_metrics: dict[str, float], loss: float) -> tuple[float, float, float]:
    """How an epoch competes for export (higher is better): the fewest of the user's held-out takes missed, then the
    fewest validation phrases missed, at the target false-accept rate (which is how the model will be used), then
    the validation loss (the training loss `loss` when nothing was calibrated).

    The user's takes come first because on a personalised model the two disagree: as it moves toward the user's
    voice the synthetic phrases' FRR rises (bench/personalise.py's fine-tunes kept their fifth of ten epochs)."""
    return (
        -val_metrics.get("val_user_frr", 0.0),
        -val_metrics.get("val_frr", 0.0),
        -val_metrics.get("val_loss", loss),
    )


def epoch_rank_words(val_metrics: dict[str, float]) -> str:
    """What epoch_rank judged epochs by, for the log."""
    if "val_user_frr" in val_metrics:
        return "the most of your held-out takes heard at the target FA/h, then the best validation FRR"
    return "the best validation FRR at the target FA/h"
