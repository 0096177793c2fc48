"""The error responses each route declares in the OpenAPI schema: every one has the same JSON body."""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec


class ErrorBody(msgspec.Struct):
    """Every error: its status, what is wrong and what to do; some carry more fields (e.g. `existing_clip_id`)."""

    status_code: int
    detail: str


_WHEN = {
    400: "The body cannot be parsed (broken JSON or multipart, an undecodable text field)",
    401: "A token is configured (WAKE_TRAINING_API_TOKEN) and the request has none or another, or a device token "
    "(wtd_...) is unknown or revoked",
    403: "A device token on a route that is not its deployment's bundle or its own record and reports",
    404: "The named dataset, clip, job or file does not exist",
    409: "The request clashes with what is stored (a duplicate, or the wrong state)",
    413: "The body is over the upload limit (WAKE_TRAINING_MAX_UPLOAD_MB) or has too many parts",
    415: "The uploaded audio is not WAV, FLAC or OGG",
    422: "A value is not acceptable: the detail names it",
    429: "Too many requests of one kind from one device; Retry-After says when to send again",
    503: "The database or the job broker does not answer",
}


def errors(*codes: int, public: bool = False) -> dict[int, ResponseSpec]:
    """Responses for these status codes, 503 (the database may be down), and 400, 401 and 403 (a device token)
    unless the route is open and takes no input.

    Litestar declares 400 on every route that validates anything, with its own body; ours replaces it.
    """
    declared = sorted({*codes, 503} if public else {*codes, 400, 401, 403, 503})
    return {
        code: ResponseSpec(data_container=ErrorBody, description=_WHEN[code], generate_examples=False)
        for code in declared
    }
