"""Dependencies injected into route handlers: the database session, the event recorder and the services."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from api.datasets.service import DatasetService
from api.deployments.service import DeploymentService
from api.devices.service import DeviceService
from api.events.recorder import EventRecorder
from api.jobs.service import JobService
from api.recordings.service import RecordingService
from shared.settings import Settings
from shared.storage import Storage


async def provide_db_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """One session per request, closed (and any open transaction rolled back) when it ends."""
    async with state.session_factory() as session:
        yield session


def provide_settings(state: State) -> Settings:
    """The app's settings."""
    return state.settings


def provide_storage(state: State) -> Storage:
    """The data volume's layout."""
    return state.storage


def provide_event_recorder(db_session: NamedDependency[AsyncSession], state: State) -> EventRecorder:
    """Events staged in this request's transaction."""
    return EventRecorder(db_session, state.relay)


def provide_dataset_service(
    db_session: NamedDependency[AsyncSession],
    storage: NamedDependency[Storage],
    settings: NamedDependency[Settings],
    events: NamedDependency[EventRecorder],
) -> DatasetService:
    """Dataset operations for this request."""
    return DatasetService(db_session, storage, settings, events)


def provide_recording_service(
    db_session: NamedDependency[AsyncSession],
    storage: NamedDependency[Storage],
    settings: NamedDependency[Settings],
    events: NamedDependency[EventRecorder],
    state: State,
) -> RecordingService:
    """Clip operations for this request."""
    return RecordingService(db_session, storage, settings, events, writer=state.writer)


def provide_job_service(
    db_session: NamedDependency[AsyncSession],
    storage: NamedDependency[Storage],
    settings: NamedDependency[Settings],
    events: NamedDependency[EventRecorder],
    state: State,
) -> JobService:
    """Job operations for this request."""
    return JobService(db_session, storage, settings, events, state.dispatcher, state.presets)


def provide_deployment_service(
    db_session: NamedDependency[AsyncSession],
    storage: NamedDependency[Storage],
    settings: NamedDependency[Settings],
    events: NamedDependency[EventRecorder],
) -> DeploymentService:
    """Deployment operations for this request."""
    return DeploymentService(db_session, storage, settings, events)


def provide_device_service(db_session: NamedDependency[AsyncSession]) -> DeviceService:
    """Device operations for this request."""
    return DeviceService(db_session)
