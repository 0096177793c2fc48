"""The report's multipart body in the OpenAPI schema (the handler reads the form itself, as uploads do)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from api.devices.reports import MAX_REPORT_AUDIO_S, REPORT_FIELDS
from shared.db.models import REPORT_KINDS

REPORT_FORM = Schema(
    type=OpenAPIType.OBJECT,
    required=list(REPORT_FIELDS),
    properties={
        "kind": Schema(type=OpenAPIType.STRING, enum=list(REPORT_KINDS)),
        "score": Schema(type=OpenAPIType.NUMBER, minimum=0, maximum=1, description="The model's score"),
        "threshold": Schema(type=OpenAPIType.NUMBER, minimum=0, maximum=1, description="The threshold it ran at"),
        "at": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME, description="The device's time"),
        "model_sha256": Schema(type=OpenAPIType.STRING, pattern="^[0-9a-f]{64}$"),
        "version": Schema(type=OpenAPIType.INTEGER, minimum=0, description="The deployment version it runs"),
        "audio": Schema(
            type=OpenAPIType.STRING,
            format=OpenAPIFormat.BINARY,
            description=f"Optional: a 16 kHz mono WAV of at most {MAX_REPORT_AUDIO_S:g} s around the window; kept "
            "only when the device's report_audio is on",
        ),
    },
)


@dataclass
class ReportOperation(Operation):
    """The report operation, with its multipart body."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"multipart/form-data": OpenAPIMediaType(schema=REPORT_FORM)},
            required=True,
            description="Multipart form: the report's fields and, optionally, its audio",
        )
