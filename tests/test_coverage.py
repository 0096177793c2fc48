"""Validation that says what it covers: whose voices it heard, how much negative audio, and what that can show."""

from __future__ import annotations

import numpy as np
import pytest
from litestar.testing import TestClient

from tests.conftest import add_clips, create_dataset, wait_for_job
from worker.training.coverage import coverage_warnings, validation_coverage
from worker.training.data import split_clips

QUICK = {
    "preset": "tiny",
    "config_overrides": {"epochs": 2, "steps_per_epoch": 3, "batch_size": 8, "background_speech_s": 0},
}


def test_a_user_speaker_with_enough_takes_is_on_both_sides_while_synthetic_voices_stay_whole() -> None:
    labels = np.array([1] * 20 + [1] * 12 + [0] * 24)
    speakers = ["ana"] * 20 + [f"espeak:v{i % 4}" for i in range(12)] + [f"espeak:v{i % 4}" for i in range(24)]
    sources = ["recording"] * 20 + ["synthetic"] * 36
    split = split_clips(labels, speakers, np.random.default_rng(0), sources=sources)
    ana = set(range(20))
    assert ana & set(split.train) and ana & set(split.val), "ana is heard in training and in validation"
    for voice in {s for s in speakers if s.startswith("espeak")}:
        sides = {
            side for side, idx in (("train", split.train), ("val", split.val)) for i in idx if speakers[i] == voice
        }
        assert len(sides) == 1, f"{voice} is on one side only"
    assert "ana" in split.message


def test_a_user_speaker_with_too_few_takes_is_kept_whole_and_wrong_length_sources_are_refused() -> None:
    labels = np.array([1, 0, 1, 1, 0, 1, 0, 0])
    speakers = ["ana", "ana", "ana", "bo", "bo", "cy", "cy", "cy"]
    sources = ["recording"] * 3 + ["synthetic"] * 5  # ana: 3 takes, fewer than it takes to share a speaker
    split = split_clips(labels, speakers, np.random.default_rng(1), sources=sources)
    assert split.by_speaker and "both sides" not in split.message.replace("none on both sides", "")
    assert not {speakers[i] for i in split.train} & {speakers[i] for i in split.val}
    with pytest.raises(ValueError, match="sources"):
        split_clips(labels, speakers, np.random.default_rng(0), sources=["recording"])


def test_coverage_counts_validation_by_source_and_speaker_and_says_what_one_false_accept_means() -> None:
    labels = np.array([1, 1, 1, 0, 0])
    sources = ["synthetic", "recording", "recording", "synthetic", "upload"]
    speakers = ["espeak:en", "ana", "ana", None, "ana"]
    calibration = {"threshold": 0.9, "fa_per_hour": 0.0, "method": "observed"}
    coverage = validation_coverage(
        sources, speakers, labels, np.arange(5), negative_audio_s=720.0, calibration=calibration
    )
    assert coverage["positive_clips_by_source"] == {"recording": 2, "synthetic": 1}
    assert coverage["positive_clips_by_speaker"] == {"ana": 2, "espeak:en": 1}
    assert coverage["user_positive_clips"] == 2
    assert coverage["negative_clips_by_source"] == {"synthetic": 1, "upload": 1}
    assert coverage["fa_per_hour_resolution"] == pytest.approx(5.0)
    assert (coverage["fa_per_hour_source"], coverage["fa_per_hour"]) == ("observed", 0.0)
    assert coverage_warnings(coverage) == []


def test_synthetic_only_validation_warns_and_a_tail_prediction_is_labelled_as_one() -> None:
    calibration = {"threshold": 0.97, "fa_per_hour": 0.0, "method": "tail", "expected_fa_per_hour": 14.7}
    coverage = validation_coverage(
        ["synthetic"] * 4,
        [None] * 4,
        np.array([1, 1, 0, 0]),
        np.arange(4),
        negative_audio_s=66.0,
        calibration=calibration,
    )
    assert (coverage["fa_per_hour_source"], coverage["fa_per_hour"]) == ("tail prediction", 14.7)
    real_voices, too_short = coverage_warnings(coverage)
    assert real_voices.startswith("accuracy on real voices is unknown") and "record 10 takes" in real_voices
    assert "66 s of negative audio" in too_short and "14.70" in too_short


def test_a_threshold_the_users_takes_kept_below_the_target_says_the_model_is_not_ready_to_deploy() -> None:
    def warnings_for(method: str, expected: float = 66.36) -> list[str]:
        calibration = {
            "threshold": 0.86,
            "fa_per_hour": 0.0,
            "target_fa_per_hour": 0.5,
            "method": method,
            "expected_fa_per_hour": expected,
        }
        coverage = validation_coverage(
            ["recording", "recording", "synthetic", "synthetic"],
            ["ana", "ana", None, None],
            np.array([1, 1, 0, 0]),
            np.arange(4),
            negative_audio_s=624.0,
            calibration=calibration,
        )
        assert coverage["threshold_method"] == method and coverage["target_fa_per_hour"] == 0.5
        return coverage_warnings(coverage)

    floor = warnings_for("not raised: more than a quarter of your held-out takes score below the observed threshold")
    too_short, not_ready = floor
    assert "score tail's prediction" in too_short
    assert "lower than your target of 0.5 false accepts an hour needs" in not_ready
    assert "about 66.4 an hour" in not_ready and "before you deploy" in not_ready
    # Stopped short of the target by the takes on the way up, it is the same model to the user: one that wakes
    # more often than asked (on the dev benchmark, 2.8 predicted came out as 1.7 an hour of natural audio).
    capped = warnings_for("extrapolated, capped by your takes", expected=2.8)
    assert any("about 2.8 an hour" in w and "before you deploy" in w for w in capped)
    # Capped where the tail already meets the target, or reaching the tail's threshold: no such warning.
    assert not any("deploy" in w for w in warnings_for("extrapolated, capped by your takes", expected=0.4))
    assert not any("deploy" in w for w in warnings_for("extrapolated"))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_job_of_synthetic_clips_carries_the_warning_in_its_record_and_metrics_json(client: TestClient) -> None:
    create_dataset(client, "synthetic-only")
    add_clips(client, "synthetic-only", 10, label="positive", source="synthetic")
    add_clips(client, "synthetic-only", 10, label="negative", seed=100, source="synthetic")
    job = client.post("/train", json={"dataset": "synthetic-only", **QUICK}).json()
    done = wait_for_job(client, job["id"], timeout=120)
    assert done["status"] == "succeeded", done
    coverage = done["metrics"]["validation_coverage"]
    assert coverage["user_positive_clips"] == 0 and coverage["positive_clips_by_source"] == {"synthetic": 2}
    assert any(w.startswith("accuracy on real voices is unknown") for w in done["metrics"]["warnings"])
    report = client.get(f"/jobs/{job['id']}/artifacts/metrics.json").json()
    assert report["validation_coverage"] == coverage and report["warnings"] == done["metrics"]["warnings"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_twenty_takes_of_one_speaker_are_validated_on_and_lift_the_warning(client: TestClient) -> None:
    create_dataset(client, "my-voice")
    add_clips(client, "my-voice", 20, label="positive", source="recording", speaker="ana")
    add_clips(client, "my-voice", 10, label="negative", seed=100, source="recording", speaker="ana")
    job = client.post("/train", json={"dataset": "my-voice", **QUICK}).json()
    done = wait_for_job(client, job["id"], timeout=120)
    assert done["status"] == "succeeded", done
    coverage = done["metrics"]["validation_coverage"]
    assert coverage["positive_clips_by_speaker"] == {"ana": coverage["positive_clips"]} and coverage["positive_clips"]
    assert coverage["user_positive_clips"] == coverage["positive_clips"]
    assert not any(w.startswith("accuracy on real voices") for w in done["metrics"]["warnings"])
    # The record says how many of ana's held-out takes the shipped threshold misses.
    assert 0.0 <= done["metrics"]["val_user_frr"] <= 1.0
    assert done["metrics"]["val_user_clips"] == coverage["user_positive_clips"]
