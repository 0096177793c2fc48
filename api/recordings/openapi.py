"""The upload's request body in the OpenAPI schema: the handler reads the multipart form itself (to answer
its own errors), so Litestar cannot see the body; this operation declares it."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from api.recordings.service import MAX_NOTES_LENGTH, MAX_SPEAKER_LENGTH
from shared.db.models import LABELS, SOURCES

UPLOAD_FORM = Schema(
    type=OpenAPIType.OBJECT,
    required=["files", "label"],
    properties={
        "files": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
            min_items=1,
            description="One or more WAV, FLAC or OGG files (repeat the field); all are stored or none",
        ),
        "label": Schema(type=OpenAPIType.STRING, enum=list(LABELS), description="The label of every file"),
        "speaker": Schema(type=OpenAPIType.STRING, max_length=MAX_SPEAKER_LENGTH, description="Who speaks"),
        "notes": Schema(type=OpenAPIType.STRING, max_length=MAX_NOTES_LENGTH),
        "source": Schema(type=OpenAPIType.STRING, enum=list(SOURCES), default="upload"),
    },
)


@dataclass
class UploadOperation(Operation):
    """The upload operation, with its multipart body."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"multipart/form-data": OpenAPIMediaType(schema=UPLOAD_FORM)},
            required=True,
            description="Multipart form: the files and the fields that describe them",
        )
