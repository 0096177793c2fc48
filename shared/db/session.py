"""Engines and session factories: one configured URL serves the async API and the sync worker."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_S = 30


def async_url(url: str) -> str:
    """The async-driver form of a database URL (SQLite needs aiosqlite; psycopg 3 does both)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The sync-driver form of a database URL, for Alembic and the worker."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    elif parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    """Whether the URL names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on during a write; foreign keys are off by default in SQLite.
    # The driver's own implicit BEGIN is turned off: _begin_immediate takes the write lock up front,
    # because a read transaction that later writes fails at once ("database is locked", no busy
    # wait) when another connection - the embedded worker - wrote in between.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_async_db_engine(url: str) -> AsyncEngine:
    """An async engine for the API."""
    if is_sqlite(url):
        # SQLite has one writer at a time; a single pooled connection keeps the API's own
        # transactions from tripping over each other instead of failing with "database is locked".
        engine = create_async_engine(
            async_url(url),
            pool_size=1,
            max_overflow=0,
            pool_timeout=SQLITE_BUSY_TIMEOUT_S,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    return create_async_engine(async_url(url), pool_pre_ping=True, pool_size=10, max_overflow=10)


def create_sync_db_engine(url: str) -> Engine:
    """A sync engine for migrations, the worker and the CLI."""
    if is_sqlite(url):
        engine = create_engine(sync_url(url), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(sync_url(url), pool_pre_ping=True)


def async_session_factory(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions for the API; objects stay readable after commit for building responses."""
    return async_sessionmaker(engine, expire_on_commit=False)


def sync_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for the worker and the CLI."""
    return sessionmaker(engine, expire_on_commit=False)


def database_unreachable(error: BaseException) -> bool:
    """Whether an error means the database could not be reached (down, restarting, connection cut), not a bad query."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError))
