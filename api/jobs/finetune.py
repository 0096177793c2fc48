"""A fine-tune's base job: found and checked when the train job that names it is submitted."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import InvalidInput
from shared.db.models import Job
from shared.storage import Storage

CHECKPOINT = "model.pt"
"""The export file a fine-tune loads its starting weights from (worker.training.export writes it)."""


async def find_base_job(session: AsyncSession, storage: Storage, overrides: dict[str, Any] | None) -> Job | None:
    """The job `base_job` in the overrides names, or None; InvalidInput unless it is a succeeded train job whose
    checkpoint is on the data volume."""
    value = (overrides or {}).get("base_job")
    if value is None:
        return None
    try:
        job_id = uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        job_id = None
    hint = "give the id of a train job that succeeded, e.g. from GET /jobs?status=succeeded"
    if job_id is None:
        raise InvalidInput(f"base_job {value!r} is not a job id; {hint}")
    job = await session.get(Job, job_id)
    if job is None:
        raise InvalidInput(f"base_job {job_id} does not exist; {hint}")
    if job.kind != "train":
        raise InvalidInput(f"base_job {job_id} is a job of kind {job.kind!r}, not a train job: it has no model; {hint}")
    if job.status != "succeeded":
        raise InvalidInput(f"base_job {job_id} is {job.status}, so it has no model yet; {hint}")
    listed = CHECKPOINT in {artifact["name"] for artifact in job.artifacts or []}
    if not listed or not (storage.job_export_dir(job_id) / CHECKPOINT).is_file():
        where = "is gone from the data volume" if listed else "was not exported"
        raise InvalidInput(f"base_job {job_id} has no checkpoint to start from: its {CHECKPOINT} {where}; {hint}")
    return job
