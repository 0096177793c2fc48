"""HTTP routes for a dataset's recordings (clips) and their audio."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import ClientException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.response import File

from api.error_responses import errors
from api.errors import InvalidInput, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from api.recordings.ingest import Upload
from api.recordings.openapi import UploadOperation
from api.recordings.schemas import Clip, ClipPage, ClipReview, ClipsAdded, ClipUpdate
from api.recordings.service import FLAG_FILTERS, REVIEW_FILTERS, SORTS, ClipFilter, RecordingService
from api.validation import ClipId, DatasetName, parse_clip_id
from shared.db.models import SOURCES

TEXT_FIELDS = ("label", "speaker", "notes", "source")


async def read_form(request: Request) -> FormMultiDict:
    """The parsed multipart body; a body the parser cannot read is the client's error (4xx), never a 500."""
    try:
        return await request.form()
    except UnicodeDecodeError as exc:
        raise MalformedRequest(
            f"a text field of the form is not valid {exc.encoding} text; send the fields as UTF-8"
        ) from None
    except LookupError as exc:  # a part's Content-Type names a charset Python does not know
        raise MalformedRequest(f"a form part names an unknown charset ({exc}); send the fields as UTF-8") from None
    except RequestEntityTooLarge:
        raise  # the body is over the byte limit: the app's handler names WAKE_TRAINING_MAX_UPLOAD_MB
    except ClientException as exc:
        if "Too Large" in exc.detail:  # Litestar's words for too many parts, kept a 400 for compatibility
            limit = request.app.multipart_form_part_limit
            files = limit - len(TEXT_FIELDS)
            raise PayloadTooLarge(
                f"the upload has more than {limit} form parts; send at most {files} files per request"
            ) from None
        raise MalformedRequest(f"the multipart body cannot be read ({exc.detail}); nothing was stored") from None


class RecordingController(Controller):
    """`/datasets/{name}/recordings`: upload, list, read, edit, soft-delete, restore, audio."""

    path = "/datasets/{name:str}/recordings"
    tags = ["recordings"]

    @post("/", status_code=201, responses=errors(400, 404, 409, 413, 415, 422), operation_class=UploadOperation)
    async def upload(
        self, name: DatasetName, request: Request, recordings: NamedDependency[RecordingService]
    ) -> ClipsAdded:
        """Store one or many files (multipart) with one `label` and optional `speaker`, `notes`, `source`."""
        media_type, _ = request.content_type
        if media_type != "multipart/form-data":
            raise UnsupportedMediaType(
                f"uploads are multipart/form-data, not {media_type or 'an empty content type'}; "
                "send the files as form fields with a `label` field"
            )
        form = await read_form(request)
        uploads: list[Upload] = []
        fields: dict[str, str] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key in TEXT_FIELDS:
                    raise InvalidInput(f"form field `{key}` must be text, not a file")
                uploads.append(Upload(filename=value.filename, data=await value.read()))
            elif key in TEXT_FIELDS:
                if key in fields:
                    raise InvalidInput(f"form field `{key}` is given twice; send it once for the whole upload")
                fields[key] = value
        clips = await recordings.add(
            name,
            uploads,
            label=fields.get("label"),
            speaker=fields.get("speaker"),
            notes=fields.get("notes"),
            source=fields.get("source", "upload"),
        )
        return ClipsAdded(clips=clips)

    @get("/", responses=errors(404, 422))
    async def list_recordings(
        self,
        name: DatasetName,
        recordings: NamedDependency[RecordingService],
        label: FromQuery[str | None] = None,
        speaker: FromQuery[str | None] = None,
        source: Annotated[
            str | None, QueryParameter(description=f"only clips from one source: {', '.join(SOURCES)}")
        ] = None,
        flag: Annotated[
            str | None,
            QueryParameter(
                description=f"only clips with one QA flag, as GET .../quality finds them: {', '.join(FLAG_FILTERS)}"
            ),
        ] = None,
        deleted: Annotated[str, QueryParameter(description="false (default), true or all")] = "false",
        review: Annotated[
            str | None,
            QueryParameter(description=f"{' or '.join(REVIEW_FILTERS)}: clips waiting for a person's verdict, or not"),
        ] = None,
        sort: Annotated[
            str, QueryParameter(description=f"order: {', '.join(SORTS)}; `-` first is descending")
        ] = "created_at",
        limit: Annotated[int, QueryParameter(description="page size, 1-500")] = 50,
        offset: Annotated[int, QueryParameter(description="clips to skip")] = 0,
    ) -> ClipPage:
        """A page of clips, oldest first (or in `sort` order), filtered by label, speaker, source, QA flag, review
        and deleted state."""
        query = ClipFilter(
            label=label,
            speaker=speaker,
            source=source,
            flag=flag,
            deleted=deleted,
            review=review,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return await recordings.list(name, query)

    @get("/{clip_id:str}", responses=errors(404, 422))
    async def get_recording(
        self, name: DatasetName, clip_id: ClipId, recordings: NamedDependency[RecordingService]
    ) -> Clip:
        """One clip."""
        return await recordings.read(name, parse_clip_id(clip_id))

    @get("/{clip_id:str}/audio", media_type="audio/wav", responses=errors(404, 422))
    async def get_audio(
        self, name: DatasetName, clip_id: ClipId, recordings: NamedDependency[RecordingService]
    ) -> File:
        """The clip's stored audio: 16 kHz mono PCM16 WAV."""
        path = await recordings.audio_path(name, parse_clip_id(clip_id))
        return File(path=path, filename=f"{clip_id}.wav", media_type="audio/wav", content_disposition_type="inline")

    @patch("/{clip_id:str}", responses=errors(400, 404, 409, 413, 422))
    async def update_recording(
        self,
        name: DatasetName,
        clip_id: ClipId,
        data: JSONBody[ClipUpdate],
        recordings: NamedDependency[RecordingService],
    ) -> Clip:
        """Change label, speaker or notes."""
        return await recordings.update(name, parse_clip_id(clip_id), data)

    @delete("/{clip_id:str}", status_code=200, responses=errors(404, 409, 422))
    async def delete_recording(
        self, name: DatasetName, clip_id: ClipId, recordings: NamedDependency[RecordingService]
    ) -> Clip:
        """Soft-delete: the clip moves to the trash and can be restored."""
        return await recordings.delete(name, parse_clip_id(clip_id))

    @post("/{clip_id:str}/restore", status_code=200, responses=errors(404, 409, 422))
    async def restore_recording(
        self, name: DatasetName, clip_id: ClipId, recordings: NamedDependency[RecordingService]
    ) -> Clip:
        """Bring a soft-deleted clip back."""
        return await recordings.restore(name, parse_clip_id(clip_id))

    @post("/{clip_id:str}/review", status_code=200, responses=errors(404, 409, 413, 422))
    async def review_recording(
        self,
        name: DatasetName,
        clip_id: ClipId,
        data: JSONBody[ClipReview],
        recordings: NamedDependency[RecordingService],
    ) -> Clip:
        """A verdict on an unreviewed clip (a device's): `positive` or `negative` sets its label and lets training
        use it; `discard` moves it to the trash; 409 when the clip is not waiting for review."""
        return await recordings.review(name, parse_clip_id(clip_id), data.verdict)
