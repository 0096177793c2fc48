"""Bearer-token guard, active only when WAKE_TRAINING_API_TOKEN is set."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

PUBLIC_PREFIXES = ("/schema",)


def token_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Let a request through if no token is configured, it is public, or it carries the token."""
    expected: str | None = connection.app.state.settings.api_token
    if not expected or handler.opt.get("public") or connection.url.path.startswith(PUBLIC_PREFIXES):
        return
    header = connection.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        # Browsers' EventSource and WebSocket cannot set headers: they pass the token as a query parameter.
        given = connection.query_params.get("access_token", "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthorizedException(
            "missing or wrong API token; send `Authorization: Bearer <WAKE_TRAINING_API_TOKEN>`"
        )
