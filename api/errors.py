"""Domain errors raised by services, each carrying the HTTP status `create_app` maps it to."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request the service refuses; `detail` says what is wrong and how to fix it."""

    status_code = 400
    headers: dict[str, str] | None = None

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class MalformedRequest(ServiceError):
    """The request body cannot be parsed at all (a broken multipart body, an unknown charset)."""

    status_code = 400


class InvalidInput(ServiceError):
    """The request is well-formed but its values are not acceptable."""

    status_code = 422


class NotFound(ServiceError):
    """The named dataset, clip or job does not exist."""

    status_code = 404


class Forbidden(ServiceError):
    """The caller may not do this (a device token outside its own deployment's routes)."""

    status_code = 403


class Conflict(ServiceError):
    """The request clashes with what is stored (a duplicate, or the wrong state)."""

    status_code = 409


class UnsupportedMediaType(ServiceError):
    """The uploaded bytes are not a format we take."""

    status_code = 415


class ServiceUnavailable(ServiceError):
    """A service the request needs (the broker) does not answer."""

    status_code = 503


class PayloadTooLarge(ServiceError):
    """The request body is over the configured upload limit."""

    status_code = 413


class TooManyRequests(ServiceError):
    """A client sends more than its limit allows; `Retry-After` says when it may again."""

    status_code = 429

    def __init__(self, detail: str, *, retry_after_s: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers = {"Retry-After": str(retry_after_s)}
