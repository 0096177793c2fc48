"""What a run's validation covers: whose voices, which sources, how much negative audio, and what that can show."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from shared.db.models import USER_SOURCES

TAKES_TO_RECORD = 10
"""How many takes of their own voice the warning asks a user for."""
NOT_RAISED = "not raised"
"""How calibration's method begins when the user's held-out takes kept the threshold below the target's."""
CAPPED_BY_TAKES = "extrapolated, capped by your takes"
"""Calibration's method when the threshold rose toward the target's but stopped at the user's held-out takes."""


def validation_coverage(
    sources: Sequence[str | None],
    speakers: Sequence[str | None],
    labels: np.ndarray,
    val_idx: np.ndarray,
    *,
    negative_audio_s: float,
    calibration: dict[str, Any] | None,
) -> dict[str, Any]:
    """Validation clips by source and speaker, seconds of negative audio, and the FA/h they can resolve."""
    positives = [int(i) for i in val_idx if labels[i] == 1]
    negatives = [int(i) for i in val_idx if labels[i] == 0]

    def by(values: Sequence[str | None], indices: list[int]) -> dict[str, int]:
        return dict(sorted(Counter(values[i] or "unknown" for i in indices).items()))

    coverage: dict[str, Any] = {
        "positive_clips": len(positives),
        "positive_clips_by_source": by(sources, positives),
        "positive_clips_by_speaker": by(speakers, positives),
        "user_positive_clips": sum(1 for i in positives if sources[i] in USER_SOURCES),
        "negative_clips": len(negatives),
        "negative_clips_by_source": by(sources, negatives),
        "negative_audio_s": round(negative_audio_s, 1),
        # One false accept in this much audio is already this rate: validation cannot tell a lower one from zero.
        "fa_per_hour_resolution": 3600.0 / negative_audio_s if negative_audio_s > 0 else None,
    }
    if calibration:
        method = calibration.get("method", "observed")
        coverage["threshold_method"] = method
        coverage["target_fa_per_hour"] = calibration.get("target_fa_per_hour")
        observed = method == "observed"
        coverage["fa_per_hour_source"] = "observed" if observed else "tail prediction"
        coverage["fa_per_hour"] = (
            calibration["fa_per_hour"]
            if observed
            else calibration.get("expected_fa_per_hour", calibration["fa_per_hour"])
        )
    return coverage


def coverage_warnings(coverage: dict[str, Any]) -> list[str]:
    """What a user must know before trusting the validation figures."""
    warnings = []
    if coverage["positive_clips"] and not coverage["user_positive_clips"]:
        warnings.append(
            "accuracy on real voices is unknown: every validation phrase is synthetic; record "
            f"{TAKES_TO_RECORD} takes of your own voice (source recording, your name as speaker) or evaluate the "
            "model on a test set (POST /jobs/{id}/evaluate)"
        )
    if coverage.get("fa_per_hour_source") == "tail prediction":
        warnings.append(
            f"validation had {coverage['negative_audio_s']:.0f} s of negative audio, too little to observe the target "
            f"false-accept rate: the FA/h shown ({coverage['fa_per_hour']:.2f}) is the score tail's prediction"
        )
    target = coverage.get("target_fa_per_hour")
    method = coverage.get("threshold_method", "")
    held_down = method.startswith(NOT_RAISED) or method == CAPPED_BY_TAKES
    if target is not None and held_down and coverage["fa_per_hour"] > target:
        # The FA/h figure alone did not stop it: such models woke 6 and 1.7 times an hour of natural audio on the dev
        # benchmark (README, "Your voice"). The user must be told what to do before deploying it.
        warnings.append(
            f"the threshold is lower than your target of {target:g} false accepts an hour "
            f"needs (expect about {coverage['fa_per_hour']:.1f} an hour): raising it would miss more than a quarter of "
            "your held-out takes. Record more takes, with your room and other phrases as negatives, and train "
            "again before you deploy this model"
        )
    return warnings
