"""Serve the dashboard's static files at `/`, outside the OpenAPI schema and open without a token."""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).resolve().parent / "static"


def dashboard_router() -> Router:
    """The static files router; the page itself needs no token (it asks the user for one to call the API)."""
    return create_static_files_router(
        path="/",
        directories=[STATIC_DIR],
        html_mode=True,
        name="dashboard",
        include_in_schema=False,
        opt={"public": True},
        # The files change with every release and are small: revalidate rather than serve a stale app.
        cache_control=CacheControlHeader(no_cache=True),
    )
