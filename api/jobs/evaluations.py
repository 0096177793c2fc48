"""Evaluations: a finished model scored on any dataset, as an `evaluate` job that the workers run."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from api.datasets.service import NEGATIVE_LABELS
from api.errors import Conflict, InvalidInput
from api.jobs import schemas
from api.jobs.service import JobService, _new_job
from api.validation import check_dataset_name, check_page
from shared.db.models import Clip, Job

MODEL_FILE = "model.onnx"


class EvaluationService:
    """Queue and list the evaluations of a train job's model."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.session = jobs.session

    async def submit(self, model_job_id: uuid.UUID, request: schemas.EvaluateRequest) -> schemas.Job:
        """Queue an evaluate job over the test dataset's clips as they are now; 202 with it."""
        model_job = await self.jobs.get(model_job_id)
        check_dataset_name(request.dataset)
        if model_job.kind != "train":
            raise Conflict(f"job {model_job_id} is a {model_job.kind} job; only a train job has a model to evaluate")
        if model_job.status != "succeeded" or MODEL_FILE not in {a["name"] for a in model_job.artifacts or []}:
            raise Conflict(
                f"job {model_job_id} has no model: it is {model_job.status}; evaluate a train job that succeeded"
            )
        dataset = await self.jobs.datasets.get(request.dataset)
        rows = (
            await self.session.execute(
                select(Clip.id, Clip.sha256, Clip.label, Clip.speaker, Clip.source)
                # A test set's labels must be a person's: an unreviewed clip's is a device's guess.
                .where(Clip.dataset_id == dataset.id, Clip.deleted_at.is_(None), Clip.review.is_(None))
                # Upload order: negatives and noise are played as one stream, in the order the user recorded them.
                .order_by(Clip.created_at, Clip.id)
            )
        ).all()
        snapshot = [
            {"id": str(i), "sha256": s, "label": label, "speaker": speaker, "source": source}
            for i, s, label, speaker, source in rows
        ]
        positives = sum(1 for c in snapshot if c["label"] == "positive")
        negatives = sum(1 for c in snapshot if c["label"] in NEGATIVE_LABELS)
        if not positives or not negatives:
            raise InvalidInput(
                f"dataset {dataset.name!r} has {positives} positive and {negatives} negative+noise clips; an "
                "evaluation needs both: positives for the misses, negatives for the false accepts per hour",
                positive_clips=positives,
                negative_clips=negatives,
            )
        threshold = (model_job.metrics or {}).get("threshold")
        config = {
            "model_job": str(model_job.id),
            "model_dataset": model_job.dataset_name,
            "threshold": threshold if isinstance(threshold, int | float) else None,
        }
        job = _new_job(dataset, "evaluate", config=config, clips=snapshot, fingerprint=[config, snapshot])
        job.model_job_id = model_job.id
        await self.jobs._queue(job, {"config": config, "clip_count": len(snapshot)})
        return self.jobs.to_schema(job)

    async def list(self, model_job_id: uuid.UUID, *, limit: int, offset: int) -> schemas.JobPage:
        """The model's evaluate jobs, newest first; a succeeded one's figures are in its `metrics`."""
        await self.jobs.get(model_job_id)
        check_page(limit, offset)
        condition = Job.model_job_id == model_job_id
        total = await self.session.scalar(select(func.count()).select_from(Job).where(condition))
        rows = await self.session.scalars(
            select(Job).where(condition).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
        )
        return schemas.JobPage(
            items=[self.jobs.to_schema(j) for j in rows], total=total or 0, limit=limit, offset=offset
        )
