"""An evaluate job: a finished model played a test dataset the way a device hears it, and what it got right."""

# onnxruntime and numpy only (worker.detect): the exported model is what is judged, not the checkpoint behind it.

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from shared.db.models import Job
from shared.storage import Storage, atomic_write
from worker.detect import SAMPLE_RATE, WakeWordDetector
from worker.training import streaming
from worker.training.data import load_audio

RESULT = "evaluation.json"
MODEL = "model.onnx"


def evaluate_clips(
    detector: WakeWordDetector,
    positives: list[tuple[dict[str, Any], np.ndarray]],
    negatives: list[np.ndarray],
) -> dict[str, Any]:
    """FRR and FA/h at the detector's threshold, the detection-error curve and recall per speaker.

    Each positive counts as detected when any window over it reaches the threshold. The negatives are one stream,
    end to end, scored at the detector's hop with its refractory rule: a false accept per firing, as on a device.
    """
    window = detector.window_samples
    # Half a window of silence on each side, so a phrase at a clip's very edge still fits whole in some window.
    pad = np.zeros(window // 2, dtype=np.float32)
    clips = [np.concatenate([pad, audio, pad]) for _, audio in positives]
    positive_scores = detector.clip_max_scores(clips)
    stream = np.concatenate(negatives)
    negative_scores = detector.scores(stream)
    duration_s = stream.size / SAMPLE_RATE
    threshold, hop_s, refractory_s = detector.threshold, detector.hop_s, detector.refractory_s
    fired = streaming.count_detections(negative_scores, threshold, hop_s=hop_s, refractory_s=refractory_s)
    detected = positive_scores >= threshold
    by_speaker: dict[str, list[bool]] = defaultdict(list)
    for (clip, _), hit in zip(positives, detected, strict=True):
        by_speaker[clip.get("speaker") or "(no speaker)"].append(bool(hit))
    curve = streaming.detection_error_curve(
        positive_scores, negative_scores, hop_s=hop_s, refractory_s=refractory_s, duration_s=duration_s
    )
    return {
        "threshold": threshold,
        "positives": int(detected.size),
        "detected": int(detected.sum()),
        "recall": float(detected.mean()),
        "frr": float(1.0 - detected.mean()),
        "negative_s": round(duration_s, 3),
        "false_accepts": len(fired),
        "fa_per_hour": len(fired) * 3600.0 / duration_s,
        # One false accept in this much audio is already this rate: a lower one cannot be told from zero.
        "fa_per_hour_resolution": 3600.0 / duration_s,
        "per_speaker": {
            speaker: {"clips": len(hits), "recall": sum(hits) / len(hits)}
            for speaker, hits in sorted(by_speaker.items())
        },
        "hop_s": hop_s,
        "refractory_s": refractory_s,
        "window_s": window / SAMPLE_RATE,
        "curve": curve,
        "clip_scores": [
            {"id": clip["id"], "speaker": clip.get("speaker"), "score": float(score)}
            for (clip, _), score in zip(positives, positive_scores, strict=True)
        ],
        "false_accept_times_s": [round(detector.window_end_s(i, duration_s), 2) for i in fired],
    }


def run_evaluation(
    job: Job, clips: list[tuple[dict[str, Any], Path]], *, storage: Storage, partial: Path, hooks
) -> tuple[dict[str, Any], list[str]]:
    """Score the model job's export on the pinned clips; write evaluation.json into `partial`; (metrics, files)."""
    config = job.config
    model_path = storage.job_export_dir(job.model_job_id) / MODEL
    if not model_path.is_file():
        raise FileNotFoundError(f"the model of job {config['model_job']} is gone from the data volume ({model_path})")
    detector = WakeWordDetector(model_path, threshold=config.get("threshold"))
    positives = [(clip, load_audio(path)) for clip, path in clips if clip["label"] == "positive"]
    negatives = [load_audio(path) for clip, path in clips if clip["label"] != "positive"]
    hooks.log(
        f"evaluating the model of job {config['model_job']} (dataset {config['model_dataset']!r}) at threshold "
        f"{detector.threshold:.3f} ({detector.threshold_source}) on {len(positives)} positive clips and "
        f"{sum(a.size for a in negatives) / SAMPLE_RATE:.0f} s of negatives and noise played as one stream"
    )
    result = evaluate_clips(detector, positives, negatives)
    partial.mkdir(parents=True, exist_ok=True)
    atomic_write(partial / RESULT, (json.dumps({"model_job": config["model_job"], **result}, indent=2) + "\n").encode())
    hooks.log(
        f"misses {result['positives'] - result['detected']} of {result['positives']} phrases (FRR "
        f"{100 * result['frr']:.1f}%); {result['false_accepts']} false accepts in {result['negative_s']:.0f} s of "
        f"negatives: {result['fa_per_hour']:.2f} per hour (one would be {result['fa_per_hour_resolution']:.1f})"
    )
    summary = {key: value for key, value in result.items() if key not in ("curve", "clip_scores")}
    return {"model_job": config["model_job"], **summary}, [RESULT]
