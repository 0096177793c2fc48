"""HTTP routes for devices: the admin's records and tokens, and a device's own record and reports."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from api.auth import DEVICE_ROUTE, device_of
from api.devices.openapi import ReportOperation
from api.devices.reports import ReportService, parse_report
from api.devices.schemas import Device, DeviceCreate, DeviceCreated, DeviceUpdate, ReportAccepted
from api.devices.service import DeviceService
from api.devices.tokens import DevicePrincipal
from api.error_responses import errors
from api.errors import Forbidden, InvalidInput, UnsupportedMediaType
from api.recordings.ingest import Upload
from api.recordings.routes import read_form
from api.recordings.service import RecordingService
from api.validation import DeviceId, parse_device_id

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _device_only(request: Request) -> DevicePrincipal:
    device = device_of(request)
    if device is None:
        raise Forbidden("this route is a device's own: call it with the device's token (Authorization: Bearer wtd_...)")
    return device


class DeviceController(Controller):
    """`/devices`: create (with its token), list, read, change, revoke; `self` and `self/reports` for a device."""

    path = "/devices"
    tags = ["devices"]

    @post("/", status_code=201, responses=errors(404, 413, 422))
    async def create_device(
        self, data: JSONBody[DeviceCreate], devices: NamedDependency[DeviceService]
    ) -> DeviceCreated:
        """A device of a deployment, with its token: shown in this answer only, give it to the device."""
        return await devices.create(data)

    @get("/", responses=errors(404, 422))
    async def list_devices(
        self,
        devices: NamedDependency[DeviceService],
        deployment: Annotated[str | None, QueryParameter(description="only this deployment's devices")] = None,
    ) -> list[Device]:
        """Every device, oldest first (revoked ones too, marked)."""
        return await devices.list(deployment)

    @get("/self", opt=DEVICE_ROUTE, responses=errors())
    async def get_self(self, request: Request, devices: NamedDependency[DeviceService]) -> Device:
        """The calling device's own record (device tokens only)."""
        return await devices.read(_device_only(request).id)

    @post(
        "/self/reports",
        status_code=201,
        opt=DEVICE_ROUTE,
        responses=errors(413, 415, 422, 429),
        operation_class=ReportOperation,
    )
    async def report(self, request: Request, recordings: NamedDependency[RecordingService]) -> ReportAccepted:
        """A detection or near miss (multipart: kind, score, threshold, at, model_sha256, version, optional `audio`
        WAV up to 5 s); with the device's consent the audio becomes an unreviewed clip. 429 past the near-miss
        limit."""
        device = _device_only(request)
        media_type, _ = request.content_type
        # A report without audio may come URL-encoded, as HTTP clients send a form without files.
        if media_type not in FORM_TYPES:
            raise UnsupportedMediaType(
                f"reports are multipart/form-data, not {media_type or 'an empty content type'}; send the fields "
                "as form fields and the audio as a file part"
            )
        form = await read_form(request)
        fields: dict[str, str] = {}
        audio: Upload | None = None
        for key, value in form.multi_items():
            if key in fields or (key == "audio" and audio is not None):
                raise InvalidInput(f"form field `{key}` is given twice; send it once")
            if isinstance(value, UploadFile):
                if key != "audio":
                    raise InvalidInput(f"form field `{key}` must be text; only `audio` is a file")
                audio = Upload(filename=value.filename, data=await value.read())
            elif key == "audio":
                raise InvalidInput("form field `audio` must be a file (a WAV)")
            else:
                fields[key] = value
        return await ReportService(recordings).submit(device, parse_report(fields), audio)

    @get("/{device_id:str}", responses=errors(404, 422))
    async def get_device(self, device_id: DeviceId, devices: NamedDependency[DeviceService]) -> Device:
        """One device."""
        return await devices.read(parse_device_id(device_id))

    @patch("/{device_id:str}", responses=errors(404, 413, 422))
    async def update_device(
        self, device_id: DeviceId, data: JSONBody[DeviceUpdate], devices: NamedDependency[DeviceService]
    ) -> Device:
        """Rename a device or change `report_audio` (its consent to send audio with reports)."""
        return await devices.update(parse_device_id(device_id), data)

    @delete("/{device_id:str}", status_code=204, responses=errors(404, 409, 422))
    async def revoke_device(self, device_id: DeviceId, devices: NamedDependency[DeviceService]) -> None:
        """Revoke the device's token (401 from then on); it stays listed, as revoked."""
        await devices.revoke(parse_device_id(device_id))
