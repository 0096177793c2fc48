"""Request and response bodies for deployments and the bundle devices follow."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from api.devices.schemas import Device

Threshold = Annotated[float, msgspec.Meta(gt=0, lt=1)]
Precision = Literal["fp32", "int8"]
Description = Annotated[str, msgspec.Meta(max_length=2000)]


class DeploymentCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new deployment of a succeeded train job's model."""

    name: str
    job_id: uuid.UUID
    threshold: Threshold | None = None
    """0 < threshold < 1; null: the job's calibrated threshold."""
    precision: Precision = "fp32"
    """Which exported model devices get: fp32 (`model.onnx`) or int8 (`model.int8.onnx`)."""
    description: Description | None = None


class DeploymentPromote(msgspec.Struct, forbid_unknown_fields=True):
    """Point the deployment at another job's model; an absent threshold is the new job's calibrated one, an absent
    precision stays as it is."""

    job_id: uuid.UUID
    threshold: Threshold | None = None
    precision: Precision | msgspec.UnsetType = msgspec.UNSET


class DeploymentUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Change the threshold (null: back to the job's calibrated one) or the description; absent fields stay."""

    threshold: Threshold | msgspec.UnsetType | None = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET


class HistoryEntry(msgspec.Struct):
    """One version of a deployment: what it pointed at, and who made it how."""

    version: int
    action: str
    """created, promoted, rolled_back or updated."""
    actor: str
    """admin, or anonymous when no API token is configured."""
    job_id: uuid.UUID
    dataset: str | None
    threshold: float | None
    """The threshold devices used at this version (the override, or the job's calibrated one)."""
    threshold_override: float | None
    precision: str
    model_sha256: str | None
    created_at: datetime


class Deployment(msgspec.Struct):
    """A deployment: the job whose model devices run, at which threshold; `history` and `devices` on GET by name."""

    name: str
    description: str | None
    version: int
    job_id: uuid.UUID
    dataset: str | None
    phrase: str | None
    threshold: float
    """The effective threshold: `threshold_override`, or the job's calibrated one."""
    threshold_override: float | None
    precision: str
    model_sha256: str | None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntry] | msgspec.UnsetType = msgspec.UNSET
    """Newest first."""
    devices: list[Device] | msgspec.UnsetType = msgspec.UNSET


class BundleModel(msgspec.Struct):
    """The model file of a bundle, fetched from `url` and checked against `sha256` and `size_bytes`."""

    precision: str
    sha256: str
    size_bytes: int
    url: str


class Bundle(msgspec.Struct, omit_defaults=True):
    """What a device needs to run a deployment: the model and how to run it. Its ETag is the sha256 of this body."""

    deployment: str
    version: int
    job_id: uuid.UUID
    dataset: str | None
    phrase: str | None
    threshold: float
    window_s: float
    hop_s: float
    refractory_s: float
    sample_rate: int
    near_miss_ratio: float
    report_audio: bool
    """The device's consent to send audio with its reports (always false for the admin)."""
    model: BundleModel
    updated_at: datetime
    streaming: dict[str, Any] | None = None
    """For a streaming model: how to drive its graph (tensor names, state shapes, step and chunk samples), as the
    job's config.json has it; the model file is then model.streaming.onnx (or its int8 form)."""
