"""The bundle a device follows: its manifest (with an ETag of its bytes), the model files, and the device's polls."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import msgspec
from sqlalchemy import select

from api.deployments import schemas
from api.deployments.artifacts import ModelFile, effective_threshold, model_file, streaming_contract, window_s
from api.deployments.service import DeploymentService
from api.devices.tokens import DevicePrincipal
from api.errors import Forbidden, InvalidInput, NotFound
from api.validation import SHA256_RE, storable_whole_number
from shared.audio import TARGET_SAMPLE_RATE
from shared.db.base import utcnow
from shared.db.models import DeploymentHistory, Device, Job

HOP_S = 0.1
REFRACTORY_S = 1.0
NEAR_MISS_RATIO = 0.7
# A device polls every few seconds: its row is written at most this often unless what it runs changed.
SEEN_WRITE_INTERVAL = timedelta(seconds=2)


def check_access(device: DevicePrincipal | None, deployment: str) -> None:
    """A device reads only its own deployment; the admin reads any."""
    if device is not None and device.deployment != deployment:
        raise Forbidden(f"this device token belongs to deployment {device.deployment!r}; it cannot read {deployment!r}")


def etag_of(body: bytes) -> str:
    """The bundle's ETag: the sha256 of its exact bytes, quoted as HTTP wants."""
    return f'"{hashlib.sha256(body).hexdigest()}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this ETag (a weak `W/` form or `*` too)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


class BundleService:
    """The manifest and model files of deployments, over one deployment service."""

    def __init__(self, deployments: DeploymentService) -> None:
        self.deployments = deployments
        self.session = deployments.session
        self.storage = deployments.storage

    async def manifest(
        self,
        name: str,
        device: DevicePrincipal | None,
        *,
        running_version: str | None = None,
        running_sha256: str | None = None,
    ) -> bytes:
        """The manifest's JSON bytes for this device (or the admin); a device's poll is recorded on its row."""
        check_access(device, name)
        deployment = await self.deployments.get(name)
        report_audio = False
        if device is not None:
            report_audio = await self._seen(device, running_version, running_sha256)
        job, model = await self.deployments.model_job(deployment.job_id, deployment.precision)
        phrases = await self.deployments.phrases([job])
        streaming = streaming_contract(job, self.storage)
        bundle = schemas.Bundle(
            deployment=deployment.name,
            version=deployment.version,
            job_id=job.id,
            dataset=job.dataset_name,
            phrase=phrases.get(job.dataset_id) if job.dataset_id else None,
            threshold=effective_threshold(job, deployment.threshold),
            window_s=window_s(job, self.storage),
            # A streaming model is judged at each of its steps, as its validation counted false accepts.
            hop_s=streaming["step_samples"] / TARGET_SAMPLE_RATE if streaming else HOP_S,
            refractory_s=REFRACTORY_S,
            sample_rate=TARGET_SAMPLE_RATE,
            near_miss_ratio=NEAR_MISS_RATIO,
            report_audio=report_audio,
            model=schemas.BundleModel(
                precision=model.precision,
                sha256=model.sha256,
                size_bytes=model.size_bytes,
                url=f"/deployments/{deployment.name}/models/{model.sha256}",
            ),
            updated_at=deployment.updated_at,
            streaming=streaming,
        )
        return msgspec.json.encode(bundle)

    async def model(self, name: str, sha256: str, device: DevicePrincipal | None) -> ModelFile:
        """The model file with this sha256 among those the deployment has pointed at; NotFound otherwise."""
        check_access(device, name)
        if not SHA256_RE.fullmatch(sha256):
            raise InvalidInput(f"{sha256!r} is not a sha256; use the `model.sha256` of the bundle (64 hex digits)")
        deployment = await self.deployments.get(name)
        # Every model the deployment has pointed at, so that a device that read the manifest just before a change
        # still gets the file it was told about.
        pairs = {(deployment.job_id, deployment.precision)}
        history = await self.session.execute(
            select(DeploymentHistory.job_id, DeploymentHistory.precision).where(
                DeploymentHistory.deployment_id == deployment.id
            )
        )
        pairs.update((job_id, precision) for job_id, precision in history)
        jobs = {j.id: j for j in await self.session.scalars(select(Job).where(Job.id.in_({j for j, _ in pairs})))}
        for job_id, precision in sorted(pairs, key=str):
            job = jobs.get(job_id)
            model = model_file(job, precision, self.storage) if job else None
            if model is not None and model.sha256 == sha256 and model.path.is_file():
                return model
        raise NotFound(f"deployment {name!r} has never served a model with sha256 {sha256}; read its bundle")

    async def _seen(self, principal: DevicePrincipal, version: str | None, sha256: str | None) -> bool:
        """Record the device's poll (last seen, what it runs); returns its consent to report audio."""
        device = await self.session.get(Device, principal.id)
        if device is None:
            return False
        running_version = _version(version, device.running_version)
        running_sha256 = sha256.lower() if sha256 and SHA256_RE.fullmatch(sha256.lower()) else device.running_sha256
        now = utcnow()
        changed = (running_version, running_sha256) != (device.running_version, device.running_sha256)
        if changed or device.last_seen_at is None or now - device.last_seen_at >= SEEN_WRITE_INTERVAL:
            device.last_seen_at = now
            device.running_version, device.running_sha256 = running_version, running_sha256
            await self.session.commit()
        return device.report_audio


def _version(header: str | None, current: int | None) -> int | None:
    # A header that is not a version is ignored rather than refused: a poll must not fail over its telemetry.
    value = storable_whole_number(header) if header is not None else None
    return current if value is None else value
