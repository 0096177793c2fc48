"""Checks of names and ids that arrive in paths, query strings and bodies."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from litestar.params import PathParameter

from api.errors import InvalidInput
from shared.db.models import LABELS, SOURCES
from shared.names import NAME_RE, NAME_RULE

DATASET_NAME_RE = NAME_RE
DATASET_NAME_RULE = NAME_RULE

# Path parameters as the schema declares them. The pattern and format are documentation only (schema_extra):
# the services check them and answer a 422 that names the rule, rather than Litestar's generic one.
DatasetName = Annotated[
    str,
    PathParameter(
        description=f"The dataset's name: {DATASET_NAME_RULE}",
        schema_extra={"pattern": f"^{DATASET_NAME_RE.pattern}$"},
    ),
]
ClipId = Annotated[str, PathParameter(description="The clip's id (a UUID)", schema_extra={"format": "uuid"})]
JobId = Annotated[str, PathParameter(description="The job's id (a UUID)", schema_extra={"format": "uuid"})]
DeploymentName = Annotated[
    str,
    PathParameter(description=f"The deployment's name: {NAME_RULE}", schema_extra={"pattern": f"^{NAME_RE.pattern}$"}),
]
DeviceId = Annotated[str, PathParameter(description="The device's id (a UUID)", schema_extra={"format": "uuid"})]


def check_name(name: str, what: str) -> str:
    """Return the name if it follows the name rule (shared/names.py), else raise InvalidInput naming `what`."""
    if not NAME_RE.fullmatch(name):
        raise InvalidInput(f"invalid {what} name {name!r}: use {NAME_RULE}")
    return name


def check_dataset_name(name: str) -> str:
    """Return the name if it is a valid dataset name, else raise InvalidInput."""
    return check_name(name, "dataset")


MAX_PAGE_SIZE = 500
MAX_OFFSET = 2**31 - 1


def _parse_uuid(value: str, what: str, hint: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not a UUID; {hint}") from None


def parse_clip_id(value: str) -> uuid.UUID:
    """Parse a clip id from a path, or raise InvalidInput naming the bad value."""
    return _parse_uuid(value, "clip id", "use the `id` of a clip from the listing")


def parse_job_id(value: str) -> uuid.UUID:
    """Parse a job id from a path, or raise InvalidInput naming the bad value."""
    return _parse_uuid(value, "job id", "use the `id` returned by POST /train")


def parse_device_id(value: str) -> uuid.UUID:
    """Parse a device id from a path, or raise InvalidInput naming the bad value."""
    return _parse_uuid(value, "device id", "use the `id` of a device from GET /devices")


def check_page(limit: int, offset: int) -> None:
    """Refuse a page size outside 1-500 or an offset the databases cannot take."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}")


def require_label(label: str) -> str:
    """Return the label if it is one we know, else InvalidInput listing the choices."""
    if label not in LABELS:
        raise InvalidInput(f"unknown label {label!r}; use one of: {', '.join(LABELS)}")
    return label


def require_source(source: str) -> str:
    """Return the clip source if it is one we know, else InvalidInput listing the choices."""
    if source not in SOURCES:
        raise InvalidInput(f"unknown source {source!r}; use one of: {', '.join(SOURCES)}")
    return source


SHA256_RE = re.compile(r"[0-9a-f]{64}")
"""A sha256 as the API writes it: 64 lowercase hex digits."""
WHOLE_NUMBER_RE = re.compile(r"[0-9]{1,10}")
"""A whole number in ASCII digits (`str.isdigit` also takes "²", which int() refuses)."""
MAX_INT32 = 2**31 - 1
"""The largest whole number an Integer column holds on both databases."""


def storable_whole_number(text: str) -> int | None:
    """The whole number (ASCII digits, white space around allowed) in the text if an Integer column holds it."""
    text = text.strip()
    if not WHOLE_NUMBER_RE.fullmatch(text) or int(text) > MAX_INT32:
        return None
    return int(text)


MAX_SEQ = 2**63 - 1
"""The largest event sequence number either database can hold (a signed 64-bit integer)."""


def refuse_unstorable(text: str, field: str) -> str:
    """The text unchanged, unless it holds what Postgres cannot store: a NUL character or a lone surrogate."""
    if "\x00" in text:
        # Postgres text and JSONB cannot hold NUL; refusing it everywhere keeps SQLite and Postgres alike.
        raise InvalidInput(f"{field} contains a NUL character; send plain text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{field} contains a lone UTF-16 surrogate (an escape like \\ud800); send plain text"
        ) from None
    return text


def check_sequence(value: int, what: str) -> int:
    """An event sequence number a client resumes after: 0 or more, and one a database can hold."""
    if not 0 <= value <= MAX_SEQ:
        raise InvalidInput(f"{what} must be an event sequence number from 0 to {MAX_SEQ}; got {value}")
    return value


def clean_text(text: str | None, field: str, max_length: int) -> str | None:
    """Strip surrounding white space (empty becomes None) and refuse unstorable or over-long text."""
    if text is None:
        return None
    text = refuse_unstorable(text, field).strip()
    if len(text) > max_length:
        raise InvalidInput(f"{field} is {len(text)} characters; use at most {max_length}")
    return text or None
