"""What device operations mean: make one with its token, list, read, rename, change consent, revoke."""

from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
from msgspec import UNSET
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.devices import schemas
from api.devices.tokens import new_device_token, token_digest, token_hint
from api.errors import Conflict, InvalidInput, NotFound
from api.validation import check_name
from shared.db.base import utcnow
from shared.db.models import Deployment, Device, DeviceReport

DETECTIONS_WINDOW = timedelta(hours=24)


class DeviceService:
    """Device operations over one database session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, data: schemas.DeviceCreate) -> schemas.DeviceCreated:
        """A new device of a deployment, with its token (shown in this answer only)."""
        check_name(data.name, "device")
        deployment = await self._deployment(data.deployment)
        token = new_device_token()
        device = Device(
            name=data.name,
            deployment_id=deployment.id,
            token_sha256=token_digest(token),
            token_hint=token_hint(token),
            report_audio=data.report_audio,
            detections=0,
            near_misses=0,
        )
        self.session.add(device)
        await self.session.commit()
        (shown,) = await device_schemas(self.session, [device], {deployment.id: deployment.name})
        return schemas.DeviceCreated(**msgspec.structs.asdict(shown), token=token)

    async def list(self, deployment: str | None) -> list[schemas.Device]:
        """Every device (of one deployment), oldest first; revoked ones too, marked."""
        query = select(Device).order_by(Device.created_at, Device.id)
        if deployment is not None:
            query = query.where(Device.deployment_id == (await self._deployment(deployment)).id)
        devices = list(await self.session.scalars(query))
        return await device_schemas(self.session, devices, await self._names(devices))

    async def get(self, device_id: uuid.UUID) -> Device:
        """The device, or NotFound."""
        device = await self.session.get(Device, device_id)
        if device is None:
            raise NotFound(f"device {device_id} does not exist; list devices with GET /devices")
        return device

    async def read(self, device_id: uuid.UUID) -> schemas.Device:
        """One device."""
        device = await self.get(device_id)
        (shown,) = await device_schemas(self.session, [device], await self._names([device]))
        return shown

    async def update(self, device_id: uuid.UUID, data: schemas.DeviceUpdate) -> schemas.Device:
        """Rename a device or change its consent to report audio."""
        device = await self.get(device_id)
        if data.name is UNSET and data.report_audio is UNSET:
            raise InvalidInput("nothing to change: give name, report_audio or both")
        if data.name is not UNSET:
            device.name = check_name(data.name, "device")
        if data.report_audio is not UNSET:
            device.report_audio = data.report_audio
        await self.session.commit()
        return await self.read(device_id)

    async def revoke(self, device_id: uuid.UUID) -> None:
        """Revoke the device's token; the device stays listed, as revoked."""
        device = await self.get(device_id)
        if device.revoked_at is not None:
            raise Conflict(f"device {device_id} was already revoked at {device.revoked_at.isoformat()}")
        device.revoked_at = utcnow()
        await self.session.commit()

    async def _deployment(self, name: str) -> Deployment:
        check_name(name, "deployment")
        deployment = await self.session.scalar(select(Deployment).where(Deployment.name == name))
        if deployment is None:
            raise NotFound(f"deployment {name!r} does not exist; list deployments with GET /deployments")
        return deployment

    async def _names(self, devices: list[Device]) -> dict[uuid.UUID, str]:
        ids = {d.deployment_id for d in devices}
        if not ids:
            return {}
        rows = await self.session.execute(select(Deployment.id, Deployment.name).where(Deployment.id.in_(ids)))
        return {key: value for key, value in rows}


async def device_schemas(
    session: AsyncSession, devices: list[Device], deployment_names: dict[uuid.UUID, str]
) -> list[schemas.Device]:
    """Devices as the API shows them, with their detections of the last 24 hours."""
    ids = [d.id for d in devices]
    recent: dict[uuid.UUID, int] = {}
    if ids:
        rows = await session.execute(
            select(DeviceReport.device_id, func.count())
            .where(
                DeviceReport.device_id.in_(ids),
                DeviceReport.kind == "detection",
                DeviceReport.received_at >= utcnow() - DETECTIONS_WINDOW,
            )
            .group_by(DeviceReport.device_id)
        )
        recent = {device_id: count for device_id, count in rows}
    return [
        schemas.Device(
            id=d.id,
            name=d.name,
            deployment=deployment_names.get(d.deployment_id, ""),
            token_hint=d.token_hint,
            report_audio=d.report_audio,
            created_at=d.created_at,
            last_seen_at=d.last_seen_at,
            running_version=d.running_version,
            running_sha256=d.running_sha256,
            revoked=d.revoked_at is not None,
            revoked_at=d.revoked_at,
            detections=d.detections,
            near_misses=d.near_misses,
            detections_last_24h=recent.get(d.id, 0),
        )
        for d in devices
    ]
