"""A device's reports: each detection or near miss is counted, and its audio (with consent) becomes a clip to review."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from sqlalchemy import delete, func, select, update

from api.devices.schemas import ReportAccepted
from api.devices.tokens import DevicePrincipal
from api.errors import InvalidInput, TooManyRequests
from api.recordings.ingest import Upload
from api.recordings.service import RecordingService
from api.validation import SHA256_RE, storable_whole_number
from shared.db.base import utcnow
from shared.db.models import REPORT_KINDS, Dataset, Deployment, Device, DeviceReport, Job

REPORT_FIELDS = ("kind", "score", "threshold", "at", "model_sha256", "version")
MAX_REPORT_AUDIO_S = 5.0
NEAR_MISS_WINDOW = timedelta(hours=1)
# Long enough for the last 24 hours' detections; older reports live on only in the device's counters.
REPORT_RETENTION = timedelta(hours=48)
LABEL_GUESS = {"detection": "positive", "near_miss": "negative"}


@dataclass(frozen=True)
class Report:
    """One detection or near miss as a device sent it."""

    kind: str
    score: float
    threshold: float
    at: datetime
    model_sha256: str
    version: int


def parse_report(fields: dict[str, str]) -> Report:
    """The report in a form's text fields; InvalidInput names the first field that is missing or wrong."""
    unknown = sorted(set(fields) - set(REPORT_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown form field {unknown[0]!r}; a report has {', '.join(REPORT_FIELDS)} and `audio`")
    missing = [name for name in REPORT_FIELDS if not fields.get(name, "").strip()]
    if missing:
        raise InvalidInput(f"form field `{missing[0]}` is missing; a report has {', '.join(REPORT_FIELDS)}")
    kind = fields["kind"].strip()
    if kind not in REPORT_KINDS:
        raise InvalidInput(f"unknown kind {kind!r}; use one of: {', '.join(REPORT_KINDS)}")
    sha256 = fields["model_sha256"].strip().lower()
    if not SHA256_RE.fullmatch(sha256):
        raise InvalidInput("model_sha256 must be the 64 hex digits of the model's sha256 (the bundle's model.sha256)")
    return Report(
        kind=kind,
        score=_unit(fields["score"], "score"),
        threshold=_unit(fields["threshold"], "threshold"),
        at=_time(fields["at"]),
        model_sha256=sha256,
        version=_version(fields["version"]),
    )


class ReportService:
    """Counting a device's reports and keeping their audio, over the recordings' session."""

    def __init__(self, recordings: RecordingService) -> None:
        self.recordings = recordings
        self.session = recordings.session
        self.settings = recordings.settings

    async def submit(self, principal: DevicePrincipal, report: Report, audio: Upload | None) -> ReportAccepted:
        """Count the report; with audio and the device's consent, store the audio as an unreviewed clip."""
        device = await self.session.get(Device, principal.id)
        if device is None:  # deleted with its deployment after the guard let the request in
            raise InvalidInput("this device no longer exists; nothing was counted")
        if report.kind == "near_miss":
            await self._limit_near_misses(device)
        dataset = await self._dataset(device) if audio is not None and device.report_audio else None
        # Without consent the audio is dropped unread: not even checked.
        if dataset is None:
            await self._count(device, report, None)
            await self.session.commit()
            return ReportAccepted(counted=True, clip_id=None)
        normalized = await anyio.to_thread.run_sync(
            lambda: self.recordings.normalize_report(audio, max_seconds=MAX_REPORT_AUDIO_S)
        )
        existing = await self.recordings.existing_clip_id(dataset, normalized.sha256)
        if existing is not None:
            await self._count(device, report, existing)
            await self.session.commit()
            return ReportAccepted(counted=True, clip_id=existing)
        clip_id = await self.recordings.add_for_review(
            dataset,
            normalized,
            label=LABEL_GUESS[report.kind],
            speaker=device.name,
            notes=_notes(device.name, report),
            before_commit=lambda clip_id: self._count(device, report, clip_id),
        )
        return ReportAccepted(counted=True, clip_id=clip_id)

    async def _limit_near_misses(self, device: Device) -> None:
        limit = self.settings.device_near_misses_per_hour
        now = utcnow()
        count, oldest = (
            await self.session.execute(
                select(func.count(), func.min(DeviceReport.received_at)).where(
                    DeviceReport.device_id == device.id,
                    DeviceReport.kind == "near_miss",
                    DeviceReport.received_at > now - NEAR_MISS_WINDOW,
                )
            )
        ).one()
        if count < limit:
            return
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        retry_after = max(1, math.ceil((oldest + NEAR_MISS_WINDOW - now).total_seconds()))
        raise TooManyRequests(
            f"device {device.name!r} reported {count} near misses in the last hour, the most it may "
            f"(WAKE_TRAINING_DEVICE_NEAR_MISSES_PER_HOUR); send the next in {retry_after} s. "
            "Detections are not limited",
            retry_after_s=retry_after,
        )

    async def _dataset(self, device: Device) -> Dataset | None:
        """The dataset of the deployment's current job, where the device's audio goes (None if it was deleted)."""
        return await self.session.scalar(
            select(Dataset)
            .join(Job, Job.dataset_id == Dataset.id)
            .join(Deployment, Deployment.job_id == Job.id)
            .where(Deployment.id == device.deployment_id)
        )

    async def _count(self, device: Device, report: Report, clip_id: uuid.UUID | None) -> None:
        now = utcnow()
        self.session.add(
            DeviceReport(
                device_id=device.id,
                kind=report.kind,
                score=report.score,
                threshold=report.threshold,
                at=report.at,
                received_at=now,
                model_sha256=report.model_sha256,
                version=report.version,
                clip_id=clip_id,
            )
        )
        counter = Device.detections if report.kind == "detection" else Device.near_misses
        # In SQL, not in Python: two reports at once must both count.
        await self.session.execute(
            update(Device).where(Device.id == device.id).values({counter: counter + 1, Device.last_seen_at: now})
        )
        await self.session.execute(
            delete(DeviceReport).where(
                DeviceReport.device_id == device.id, DeviceReport.received_at < now - REPORT_RETENTION
            )
        )


def _notes(device: str, report: Report) -> str:
    what = "detection" if report.kind == "detection" else "near miss"
    return (
        f"{what} by {device} at score {report.score:.2f} "
        f"(threshold {report.threshold:.2f}, model v{report.version} {report.model_sha256[:8]})"
    )


def _unit(text: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{field} must be a number from 0 to 1; got {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidInput(f"{field} must be a number from 0 to 1; got {text!r}")
    return value


def _time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"at must be an ISO-8601 time, e.g. 2026-12-05T14:03:07Z; got {text!r}") from None
    # A device without a zone is taken to speak UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _version(text: str) -> int:
    value = storable_whole_number(text)
    if value is None:
        raise InvalidInput(f"version must be the deployment version the device runs (a whole number); got {text!r}")
    return value
