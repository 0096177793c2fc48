"""What a deployment serves of a train job: its model file per precision, its threshold and its window."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.db.models import Job
from shared.storage import Storage

# The names worker/training/export.py writes (the API does not import the worker: it would pull in torch).
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
# A streaming export's graphs: devices run these when the job has them (each new 30 ms scored once).
STREAMING_MODEL_FILES = {"fp32": "model.streaming.onnx", "int8": "model.streaming.int8.onnx"}
EXPORT_CONFIG = "config.json"
DEFAULT_THRESHOLD = 0.5
"""What the trainer reports when it could not calibrate (no positive or no negative validation audio)."""
DEFAULT_WINDOW_S = 1.0


@dataclass(frozen=True)
class ModelFile:
    """One exported model of a job, as listed in its artifacts (sha256 and size measured by the worker)."""

    precision: str
    path: Path
    sha256: str
    size_bytes: int


def model_file(job: Job, precision: str, storage: Storage) -> ModelFile | None:
    """The job's exported model of this precision, or None when it has none."""
    if job.kind != "train" or job.status != "succeeded":
        return None
    artifacts = {artifact.get("name"): artifact for artifact in job.artifacts or []}
    name = STREAMING_MODEL_FILES[precision] if STREAMING_MODEL_FILES[precision] in artifacts else MODEL_FILES[precision]
    artifact = artifacts.get(name)
    if artifact is None:
        return None
    return ModelFile(precision, storage.job_export_dir(job.id) / name, str(artifact["sha256"]), int(artifact["size"]))


def streaming_contract(job: Job, storage: Storage) -> dict[str, Any] | None:
    """The streaming contract of a job's export (its config.json `streaming`), or None for a windowed model."""
    if not any(artifact.get("name") in STREAMING_MODEL_FILES.values() for artifact in job.artifacts or []):
        return None
    try:
        contract = json.loads((storage.job_export_dir(job.id) / EXPORT_CONFIG).read_text()).get("streaming")
    except (OSError, ValueError, AttributeError):
        return None
    return contract if isinstance(contract, dict) else None


def calibrated_threshold(job: Job) -> float:
    """The threshold the job calibrated on its validation audio."""
    threshold = (job.metrics or {}).get("threshold")
    return float(threshold) if isinstance(threshold, int | float) else DEFAULT_THRESHOLD


def effective_threshold(job: Job, override: float | None) -> float:
    """The threshold devices use: the deployment's override, or the job's calibrated one."""
    return override if override is not None else calibrated_threshold(job)


def window_s(job: Job, storage: Storage) -> float:
    """Seconds of audio the model scores at once: the job's resolved config, else its exported config.json."""
    value: Any = (job.config or {}).get("window_s")
    if not isinstance(value, int | float):
        try:
            value = json.loads((storage.job_export_dir(job.id) / EXPORT_CONFIG).read_text()).get("window_s")
        except (OSError, ValueError, AttributeError):
            value = None
    return float(value) if isinstance(value, int | float) else DEFAULT_WINDOW_S
