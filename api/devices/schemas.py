"""Request and response bodies for devices and their reports."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class DeviceCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new device of a deployment; `report_audio` is the consent to send the audio around its detections."""

    name: str
    deployment: str
    report_audio: bool = False


class DeviceUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Fields of a device a user may change; absent fields stay as they are."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    report_audio: bool | msgspec.UnsetType = msgspec.UNSET


class Device(msgspec.Struct):
    """A device as the admin (or the device itself) sees it; never its token."""

    id: uuid.UUID
    name: str
    deployment: str
    token_hint: str
    """The token's first 8 characters, to tell tokens apart."""
    report_audio: bool
    created_at: datetime
    last_seen_at: datetime | None
    running_version: int | None
    """The deployment version the device said it runs at its last poll."""
    running_sha256: str | None
    revoked: bool
    revoked_at: datetime | None
    detections: int
    near_misses: int
    detections_last_24h: int


class DeviceCreated(Device):
    """A new device with its token: the only time the token is shown."""

    token: str
    """`wtd_…`: give it to the device (`wake-edge run --token …`); only its sha256 is kept."""


class ReportAccepted(msgspec.Struct):
    """A report was counted; `clip_id` is the clip its audio became (or already was), null when no audio was kept."""

    counted: bool
    clip_id: uuid.UUID | None
