"""Serving the app with uvicorn, so that a stop ends the event streams instead of waiting on them."""

from __future__ import annotations

import socket
import sys

import uvicorn
from litestar import Litestar
from uvicorn.config import STARTUP_FAILURE

SHUTDOWN_GRACE_S = 5
"""Seconds a stopping server gives open connections (uploads, event streams) before it closes them."""


class StoppingServer(uvicorn.Server):
    """uvicorn's server, ending the app's live event feeds as a stop begins.

    An event stream never ends on its own: without this, a stop (docker stop, a deploy) waits on every open
    dashboard tab until its grace runs out or the supervisor kills the process. Ended, each client reconnects to
    whichever server answers next and catches up from its last event.
    """

    def __init__(self, config: uvicorn.Config, app: Litestar) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        relay = getattr(self.app.state, "relay", None)  # absent when startup failed
        if relay is not None:
            relay.end_streams()
        await super().shutdown(sockets)


def serve_app(app: Litestar, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM; exit as uvicorn.run does when the server could not start."""
    config = uvicorn.Config(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    server = StoppingServer(config, app)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
