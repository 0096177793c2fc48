"""The bearer-token guard: the admin token (when WAKE_TRAINING_API_TOKEN is set) and device tokens (`wtd_…`)."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import select

from api.devices.tokens import DevicePrincipal, is_device_token, token_digest
from shared.db.models import Deployment, Device

PUBLIC_PREFIXES = ("/schema",)
DEVICE_KEY = "device"
DEVICE_ROUTE = {DEVICE_KEY: True}
"""A route handler's `opt` that lets a device's token in (its own deployment's bundle, its record and reports)."""
DEVICE_FORBIDDEN = "a device token can only read its deployment's bundle and post its own reports"


async def token_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Let through public routes, the admin, and a device on a route marked `opt=DEVICE_ROUTE`."""
    if handler.opt.get("public") or connection.url.path.startswith(PUBLIC_PREFIXES):
        return
    expected: str | None = connection.app.state.settings.api_token
    given = _given_token(connection)
    if expected and given and hmac.compare_digest(given.encode(), expected.encode()):
        return
    if given and is_device_token(given):
        device = await _device(connection, given)
        if device is None:
            raise NotAuthorizedException(
                "unknown or revoked device token; create the device a new one with POST /devices"
            )
        if not handler.opt.get(DEVICE_KEY):
            raise PermissionDeniedException(DEVICE_FORBIDDEN)
        connection.scope["state"][DEVICE_KEY] = device
        return
    if expected:
        raise NotAuthorizedException(
            "missing or wrong API token; send `Authorization: Bearer <WAKE_TRAINING_API_TOKEN>`"
        )


def device_of(connection: ASGIConnection) -> DevicePrincipal | None:
    """The device that made the request, or None for the admin."""
    return connection.scope["state"].get(DEVICE_KEY)


def actor_of(connection: ASGIConnection) -> str:
    """Who a change is recorded as made by: the admin, or anyone when no API token is configured."""
    return "admin" if connection.app.state.settings.api_token else "anonymous"


def _given_token(connection: ASGIConnection) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        # Browsers' EventSource and WebSocket cannot set headers: they pass the token as a query parameter.
        given = connection.query_params.get("access_token", "")
    return given.strip()


async def _device(connection: ASGIConnection, token: str) -> DevicePrincipal | None:
    async with connection.app.state.session_factory() as session:
        row = (
            await session.execute(
                select(Device.id, Device.name, Device.deployment_id, Deployment.name)
                .join(Deployment, Deployment.id == Device.deployment_id)
                .where(Device.token_sha256 == token_digest(token), Device.revoked_at.is_(None))
            )
        ).first()
    if row is None:
        return None
    device_id, name, deployment_id, deployment = row
    return DevicePrincipal(id=device_id, name=name, deployment_id=deployment_id, deployment=deployment)
