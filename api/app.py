"""`create_app(settings)`: the Litestar application with its plugins, routes and error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from sqlalchemy.exc import SQLAlchemyError

from api import deps
from api.auth import token_guard
from api.dashboard.routes import dashboard_router
from api.datasets.routes import DatasetController
from api.deployments.routes import DeploymentController
from api.devices.routes import DeviceController
from api.errors import ServiceError
from api.events.relay import EventRelay
from api.events.routes import all_events, events_socket, job_events
from api.jobs.dispatch import CeleryDispatcher, EmbeddedDispatcher
from api.jobs.reaper import run_reaper
from api.jobs.routes import JobController, list_presets, synthesize, train
from api.recordings.routes import RecordingController
from api.synthesis.routes import synthesis_languages
from api.system.routes import health
from shared.db.session import async_session_factory, create_async_db_engine, database_unreachable
from shared.events import MemoryBus, event_channel
from shared.settings import Settings, get_settings
from shared.storage import Storage
from shared.writers import WriterLease

log = logging.getLogger(__name__)


def _error_body(status_code: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"status_code": status_code, "detail": detail, **extra}


def _service_error(_: Request, exc: ServiceError) -> Response:
    return Response(
        _error_body(exc.status_code, exc.detail, **exc.extra), status_code=exc.status_code, headers=exc.headers
    )


def _validation_error(_: Request, exc: ValidationException) -> Response:
    # Values that parse but make no sense are 422 everywhere in this API, ours and Litestar's alike.
    errors = exc.extra if isinstance(exc.extra, list) else []
    reasons = [
        f"{e.get('key') or e.get('source') or 'request'}: {e['message']}"
        for e in errors
        if isinstance(e, dict) and e.get("message")
    ]
    detail = f"invalid request: {'; '.join(reasons)}" if reasons else exc.detail
    return Response(_error_body(422, detail, **({"errors": errors} if errors else {})), status_code=422)


def _too_large(request: Request, _: RequestEntityTooLarge) -> Response:
    limit_mb = request.app.state.settings.max_upload_mb
    detail = (
        f"the request body is over the {limit_mb:g} MiB limit (WAKE_TRAINING_MAX_UPLOAD_MB); "
        "send fewer or shorter files per request"
    )
    return Response(_error_body(413, detail), status_code=413)


def _database_error(_: Request, exc: SQLAlchemyError) -> Response:
    if not database_unreachable(exc):
        # A bug, not an outage: logged whole, answered without internals.
        log.error("database error", exc_info=exc)
        return Response(_error_body(500, "internal error; the server log has the details"), status_code=500)
    detail = "the database does not answer (down or restarting); nothing was changed, try again in a few seconds"
    return Response(_error_body(503, detail), status_code=503, headers={"Retry-After": "5"})


def _http_error(_: Request, exc: HTTPException) -> Response:
    extra = {"extra": exc.extra} if exc.extra else {}
    return Response(_error_body(exc.status_code, exc.detail, **extra), status_code=exc.status_code, headers=exc.headers)


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API for the given settings (the environment's by default)."""
    settings = settings or get_settings()
    # A bad WAKE_TRAINING_PRESETS stops the start here (PresetError), not the first job that names the preset.
    presets = settings.training_presets()
    storage = Storage(settings.data_dir)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        state = app.state
        storage.ensure()
        engine = create_async_db_engine(settings.resolved_database_url)
        state.engine = engine
        state.session_factory = async_session_factory(engine)
        bus = MemoryBus() if settings.embedded else None
        state.relay = EventRelay(
            state.session_factory,
            bus=bus,
            redis_url=settings.broker_url,
            channel=event_channel(settings.resolved_database_url),
            poll_s=settings.event_poll_s,
        )
        await state.relay.start()
        embedded_worker = None
        if bus is not None:
            from worker.embedded import EmbeddedWorker

            embedded_worker = EmbeddedWorker(settings, bus)
            embedded_worker.start()
            state.dispatcher = EmbeddedDispatcher(embedded_worker)
        else:
            state.dispatcher = CeleryDispatcher(settings)
        # Its first pass, right away, sends every queued job again: the embedded queue did not outlive the last
        # run, and a broker may have lost messages while no API watched it.
        reaper = asyncio.create_task(run_reaper(state), name="job-reaper")
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            if embedded_worker is not None:
                await anyio.to_thread.run_sync(embedded_worker.stop)
            else:
                state.dispatcher.close()
            await state.relay.stop()
            await engine.dispose()

    return Litestar(
        route_handlers=[
            health,
            DatasetController,
            RecordingController,
            train,
            list_presets,
            synthesize,
            synthesis_languages,
            JobController,
            DeploymentController,
            DeviceController,
            all_events,
            job_events,
            events_socket,
            dashboard_router(),
        ],
        lifespan=[lifespan],
        state=State(
            {"settings": settings, "storage": storage, "presets": presets, "writer": WriterLease(settings.data_dir)}
        ),
        dependencies={
            "db_session": Provide(deps.provide_db_session),
            "settings": Provide(deps.provide_settings, sync_to_thread=False),
            "storage": Provide(deps.provide_storage, sync_to_thread=False),
            "datasets": Provide(deps.provide_dataset_service, sync_to_thread=False),
            "recordings": Provide(deps.provide_recording_service, sync_to_thread=False),
            "events": Provide(deps.provide_event_recorder, sync_to_thread=False),
            "jobs": Provide(deps.provide_job_service, sync_to_thread=False),
            "deployments": Provide(deps.provide_deployment_service, sync_to_thread=False),
            "devices": Provide(deps.provide_device_service, sync_to_thread=False),
        },
        guards=[token_guard],
        cors_config=CORSConfig(
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Last-Event-ID",
                "If-None-Match",
                "X-Wake-Edge-Version",
                "X-Wake-Edge-Model-Sha256",
            ],
            expose_headers=["ETag", "Retry-After"],
            allow_credentials=False,
        ),
        exception_handlers={
            ServiceError: _service_error,
            ValidationException: _validation_error,
            RequestEntityTooLarge: _too_large,
            HTTPException: _http_error,
            SQLAlchemyError: _database_error,
        },
        openapi_config=OpenAPIConfig(
            title="wake-training",
            version="0.1.0",
            description="Train custom wake-word models from recorded clips.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        request_max_body_size=settings.max_upload_bytes,
    )
