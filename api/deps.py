"""Dependencies injected into route handlers: the database session and the services."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from api.datasets.service import DatasetService
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


def provide_dataset_service(
    db_session: NamedDependency[AsyncSession],
    storage: NamedDependency[Storage],
    settings: NamedDependency[Settings],
) -> DatasetService:
    """Dataset operations for this request."""
    return DatasetService(db_session, storage, settings)


def provide_recording_service(
    db_session: NamedDependency[AsyncSession],
    storage: NamedDependency[Storage],
    settings: NamedDependency[Settings],
) -> RecordingService:
    """Clip operations for this request."""
    return RecordingService(db_session, storage, settings)
