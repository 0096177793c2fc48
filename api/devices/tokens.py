"""Device tokens: made once, shown once, kept only as their sha256; and the device a token names."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

DEVICE_TOKEN_PREFIX = "wtd_"
HINT_LENGTH = 8


@dataclass(frozen=True)
class DevicePrincipal:
    """The device a request's token belongs to."""

    id: uuid.UUID
    name: str
    deployment_id: uuid.UUID
    deployment: str


def new_device_token() -> str:
    """A fresh device token: `wtd_` and 43 URL-safe characters (32 random bytes)."""
    return DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a token: its sha256 in hex (a stolen database holds no usable token)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_hint(token: str) -> str:
    """The first characters of a token, to tell devices' tokens apart on a screen."""
    return token[:HINT_LENGTH]


def is_device_token(token: str) -> bool:
    """Whether a bearer token claims to be a device's."""
    return token.startswith(DEVICE_TOKEN_PREFIX)
