"""What deployment operations mean: create, promote, change, roll back and delete, each a new version."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from msgspec import UNSET
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deployments import schemas
from api.deployments.artifacts import (
    DEFAULT_THRESHOLD,
    ModelFile,
    effective_threshold,
    model_file,
)
from api.devices.service import device_schemas
from api.errors import Conflict, InvalidInput, NotFound
from api.events.recorder import EventRecorder
from api.validation import check_name, clean_text
from shared.db.base import utcnow
from shared.db.models import Dataset, Deployment, DeploymentHistory, Device, Job
from shared.settings import Settings
from shared.storage import Storage

MAX_DESCRIPTION_LENGTH = 2000
EVENT = "deployment.updated"


class DeploymentService:
    """Deployment operations over one database session."""

    def __init__(self, session: AsyncSession, storage: Storage, settings: Settings, events: EventRecorder) -> None:
        self.session = session
        self.storage = storage
        self.settings = settings
        self.events = events

    async def get(self, name: str) -> Deployment:
        """The deployment called `name`, or NotFound."""
        check_name(name, "deployment")
        deployment = await self.session.scalar(select(Deployment).where(Deployment.name == name))
        if deployment is None:
            raise NotFound(f"deployment {name!r} does not exist; create it with POST /deployments")
        return deployment

    async def list(self) -> list[schemas.Deployment]:
        """Every deployment, by name."""
        deployments = list(await self.session.scalars(select(Deployment).order_by(Deployment.name)))
        jobs = await self._jobs({d.job_id for d in deployments})
        phrases = await self.phrases(jobs.values())
        return [self._to_schema(d, jobs.get(d.job_id), phrases) for d in deployments]

    async def read(self, name: str) -> schemas.Deployment:
        """One deployment with its history (newest first) and its devices."""
        deployment = await self.get(name)
        history = list(
            await self.session.scalars(
                select(DeploymentHistory)
                .where(DeploymentHistory.deployment_id == deployment.id)
                .order_by(DeploymentHistory.version.desc())
            )
        )
        jobs = await self._jobs({deployment.job_id, *(h.job_id for h in history)})
        phrases = await self.phrases(jobs.values())
        devices = list(
            await self.session.scalars(
                select(Device).where(Device.deployment_id == deployment.id).order_by(Device.created_at, Device.id)
            )
        )
        shown = self._to_schema(deployment, jobs.get(deployment.job_id), phrases)
        shown.history = [self._history_schema(h, jobs.get(h.job_id)) for h in history]
        shown.devices = await device_schemas(self.session, devices, {deployment.id: deployment.name})
        return shown

    async def create(self, data: schemas.DeploymentCreate, actor: str) -> schemas.Deployment:
        """A new deployment at version 1; Conflict if the name is taken or the job has no such model."""
        check_name(data.name, "deployment")
        description = clean_text(data.description, "description", MAX_DESCRIPTION_LENGTH)
        taken = f"deployment {data.name!r} already exists; choose another name or promote it with PUT"
        if await self.session.scalar(select(Deployment.id).where(Deployment.name == data.name)) is not None:
            raise Conflict(taken)
        job, model = await self.model_job(data.job_id, data.precision)
        deployment = Deployment(
            id=uuid.uuid4(),
            name=data.name,
            description=description,
            job_id=job.id,
            threshold=data.threshold,
            precision=data.precision,
            version=1,
        )
        self.session.add(deployment)
        try:
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            raise Conflict(taken) from None
        return await self._record(deployment, job, model, "created", actor)

    async def promote(self, name: str, data: schemas.DeploymentPromote, actor: str) -> schemas.Deployment:
        """Point the deployment at another job's model (or the same one again), as a new version."""
        deployment = await self.get(name)
        precision = deployment.precision if data.precision is UNSET else data.precision
        job, model = await self.model_job(data.job_id, precision)
        deployment.job_id, deployment.threshold, deployment.precision = job.id, data.threshold, precision
        return await self._new_version(deployment, job, model, "promoted", actor)

    async def update(self, name: str, data: schemas.DeploymentUpdate, actor: str) -> schemas.Deployment:
        """Change the threshold (a new version when the bundle changes) or the description (no new version)."""
        deployment = await self.get(name)
        if data.threshold is UNSET and data.description is UNSET:
            raise InvalidInput(
                "nothing to change: give threshold (null: the job's calibrated one), description or both"
            )
        if data.description is not UNSET:
            deployment.description = clean_text(data.description, "description", MAX_DESCRIPTION_LENGTH)
        if data.threshold is not UNSET and data.threshold != deployment.threshold:
            job, model = await self.model_job(deployment.job_id, deployment.precision)
            deployment.threshold = data.threshold
            return await self._new_version(deployment, job, model, "updated", actor)
        # The bundle is as it was: devices have nothing new to fetch, so no new version.
        deployment.updated_at = utcnow()
        return await self._record(deployment, await self.session.get(Job, deployment.job_id), None, "updated", actor)

    async def rollback(self, name: str, actor: str) -> schemas.Deployment:
        """Back to the job, threshold and precision of the version before the current one, as a new version."""
        deployment = await self.get(name)
        previous = await self.session.scalar(
            select(DeploymentHistory)
            .where(DeploymentHistory.deployment_id == deployment.id, DeploymentHistory.version < deployment.version)
            .order_by(DeploymentHistory.version.desc())
            .limit(1)
        )
        if previous is None:
            raise Conflict(f"deployment {name!r} is at its first version; there is no earlier one to roll back to")
        job, model = await self.model_job(previous.job_id, previous.precision)
        deployment.job_id, deployment.threshold, deployment.precision = job.id, previous.threshold, previous.precision
        return await self._new_version(deployment, job, model, "rolled_back", actor)

    async def delete(self, name: str) -> None:
        """Delete a deployment with its history; its devices go with it, so their tokens stop working."""
        deployment = await self.get(name)
        job = await self.session.get(Job, deployment.job_id)
        payload = {"deployment": deployment.name, "version": deployment.version, "job_id": str(deployment.job_id)}
        # Explicit, not left to ON DELETE CASCADE alone: the tokens must stop working on every database.
        await self.session.execute(delete(Device).where(Device.deployment_id == deployment.id))
        await self.session.execute(delete(DeploymentHistory).where(DeploymentHistory.deployment_id == deployment.id))
        await self.session.execute(delete(Deployment).where(Deployment.id == deployment.id))
        await self.events.add(
            EVENT,
            job_id=deployment.job_id,
            dataset=job.dataset_name if job else None,
            payload={**payload, "action": "deleted", "model_sha256": None},
        )
        await self.session.commit()
        await self.events.publish()

    async def model_job(self, job_id: uuid.UUID, precision: str) -> tuple[Job, ModelFile]:
        """A train job that succeeded and its exported model of this precision; NotFound or Conflict otherwise."""
        job = await self.session.get(Job, job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist; list jobs with GET /jobs?status=succeeded")
        if job.kind != "train":
            raise Conflict(f"job {job_id} is a {job.kind} job; only a train job has a model to deploy")
        if job.status != "succeeded":
            raise Conflict(f"job {job_id} is {job.status}; deploy a train job that succeeded")
        model = model_file(job, precision, self.storage)
        if model is None:
            raise Conflict(
                f"job {job_id} has no exported {precision} model; deploy it with another precision, or retrain it"
            )
        if not model.path.is_file():
            raise Conflict(f"the {precision} model of job {job_id} is missing on the data volume")
        return job, model

    async def _new_version(
        self, deployment: Deployment, job: Job, model: ModelFile, action: str, actor: str
    ) -> schemas.Deployment:
        deployment.version += 1
        deployment.updated_at = utcnow()
        return await self._record(deployment, job, model, action, actor)

    async def _record(
        self, deployment: Deployment, job: Job | None, model: ModelFile | None, action: str, actor: str
    ) -> schemas.Deployment:
        """Stage the version's history entry (none without a new model, when only the description changed) and its
        event, then commit."""
        if job is not None and model is not None:
            self.session.add(
                DeploymentHistory(
                    deployment_id=deployment.id,
                    version=deployment.version,
                    job_id=deployment.job_id,
                    threshold=deployment.threshold,
                    precision=deployment.precision,
                    action=action,
                    actor=actor,
                )
            )
        name = deployment.name
        try:
            await self.session.flush()
            await self.events.add(
                EVENT,
                job_id=deployment.job_id,
                dataset=job.dataset_name if job else None,
                payload={
                    "deployment": name,
                    "version": deployment.version,
                    "job_id": str(deployment.job_id),
                    "action": action,
                    "model_sha256": model.sha256 if model else self._model_sha256(job, deployment.precision),
                },
            )
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            self.events.discard()
            # The (deployment, version) pair is unique: another change made this version first.
            raise Conflict(f"deployment {name!r} was changed at the same moment; read it and try again") from None
        await self.events.publish()
        return await self.read(name)

    async def _jobs(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, Job]:
        if not ids:
            return {}
        return {j.id: j for j in await self.session.scalars(select(Job).where(Job.id.in_(ids)))}

    def _model_sha256(self, job: Job | None, precision: str) -> str | None:
        model = model_file(job, precision, self.storage) if job else None
        return model.sha256 if model else None

    async def phrases(self, jobs: Iterable[Job]) -> dict[uuid.UUID, str | None]:
        """The wake phrase of each of these jobs' datasets, by dataset id (deleted datasets left out)."""
        dataset_ids = {j.dataset_id for j in jobs if j.dataset_id is not None}
        if not dataset_ids:
            return {}
        rows = await self.session.execute(select(Dataset.id, Dataset.wake_phrase).where(Dataset.id.in_(dataset_ids)))
        return {key: value for key, value in rows}

    def _to_schema(
        self, deployment: Deployment, job: Job | None, phrases: dict[uuid.UUID, str | None]
    ) -> schemas.Deployment:
        return schemas.Deployment(
            name=deployment.name,
            description=deployment.description,
            version=deployment.version,
            job_id=deployment.job_id,
            dataset=job.dataset_name if job else None,
            phrase=phrases.get(job.dataset_id) if job and job.dataset_id else None,
            threshold=effective_threshold(job, deployment.threshold)
            if job
            else deployment.threshold or DEFAULT_THRESHOLD,
            threshold_override=deployment.threshold,
            precision=deployment.precision,
            model_sha256=self._model_sha256(job, deployment.precision),
            created_at=deployment.created_at,
            updated_at=deployment.updated_at,
        )

    def _history_schema(self, entry: DeploymentHistory, job: Job | None) -> schemas.HistoryEntry:
        return schemas.HistoryEntry(
            version=entry.version,
            action=entry.action,
            actor=entry.actor,
            job_id=entry.job_id,
            dataset=job.dataset_name if job else None,
            threshold=effective_threshold(job, entry.threshold) if job else entry.threshold,
            threshold_override=entry.threshold,
            precision=entry.precision,
            model_sha256=self._model_sha256(job, entry.precision),
            created_at=entry.created_at,
        )
