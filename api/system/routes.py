"""`GET /health`: whether the database and the broker answer."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from sqlalchemy import text

from api.error_responses import errors
from shared.settings import Settings

CHECK_TIMEOUT_S = 3.0


class Health(msgspec.Struct):
    """What a load balancer or a user checks first."""

    status: str
    data_dir: str
    database: str
    database_reachable: bool
    broker: str
    broker_reachable: bool | None
    mode: str


async def _database_reachable(state: State) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S), state.session_factory() as session:
            await session.execute(text("SELECT 1"))
    except Exception:  # any failure means unreachable; the reason is not the client's business
        return False
    return True


async def _broker_reachable(url: str) -> bool:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return bool(await client.ping())
    except Exception:  # any failure means unreachable
        return False
    finally:
        await client.aclose()


@get("/health", tags=["system"], opt={"public": True}, responses=errors(503, public=True))
async def health(state: State) -> Response[Health]:
    """200 when the database (and the broker, if one is configured) answer; 503 otherwise."""
    settings: Settings = state.settings
    database_ok = await _database_reachable(state)
    broker_ok = await _broker_reachable(settings.broker_url) if settings.broker_url else None
    healthy = database_ok and broker_ok is not False
    body = Health(
        status="ok" if healthy else "unavailable",
        data_dir=str(state.storage.root),
        database=state.engine.dialect.name,
        database_reachable=database_ok,
        broker="redis" if settings.broker_url else "embedded",
        broker_reachable=broker_ok,
        mode="embedded" if settings.embedded else "distributed",
    )
    return Response(body, status_code=200 if healthy else 503)
