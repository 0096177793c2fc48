"""Succeeded train jobs made without training: the loudness stand-in model exported as a worker leaves it."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import onnx

from shared.db.base import utcnow
from shared.db.models import Job
from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.settings import Settings
from shared.storage import Storage
from tests.test_detect import loudness_model

MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}


def _model(path: Path, mark: str) -> bytes:
    """The stand-in model (a 0.5 s window) with a mark in its doc string: each job's file has its own sha256."""
    loudness_model(path)
    model = onnx.load(str(path))
    model.doc_string = mark
    onnx.save(model, str(path))
    return path.read_bytes()


def trained_job(
    settings: Settings,
    *,
    dataset: dict[str, Any] | None = None,
    threshold: float = 0.8,
    window_s: float = 0.5,
    int8: bool = True,
    status: str = "succeeded",
    kind: str = "train",
) -> str:
    """A job row (of `dataset`, the JSON of POST /datasets, or of a deleted dataset "home") with its export."""
    job_id = uuid.uuid4()
    artifacts = []
    if status == "succeeded" and kind == "train":
        export = Storage(settings.data_dir).job_export_dir(job_id)
        for precision, name in MODEL_FILES.items():
            if precision == "int8" and not int8:
                continue
            data = _model(export / name, f"{job_id} {precision}")
            artifacts.append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    engine = create_sync_db_engine(settings.database_url)
    with sync_session_factory(engine)() as session:
        session.add(
            Job(
                id=job_id,
                dataset_id=uuid.UUID(dataset["id"]) if dataset else None,
                dataset_name=dataset["name"] if dataset else "home",
                kind=kind,
                status=status,
                config={"window_s": window_s},
                clips=[],
                snapshot_sha256="0" * 64,
                attempts=1,
                metrics={"threshold": threshold} if artifacts else {},
                artifacts=artifacts,
                finished_at=utcnow() if status != "queued" else None,
            )
        )
        session.commit()
    engine.dispose()
    return str(job_id)


def model_bytes(settings: Settings, job_id: str, precision: str = "fp32") -> bytes:
    """The exported model file of a job made here."""
    return (Storage(settings.data_dir).job_export_dir(uuid.UUID(job_id)) / MODEL_FILES[precision]).read_bytes()
