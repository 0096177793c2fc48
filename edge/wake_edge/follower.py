"""Following a deployment: poll its manifest by ETag, install each new version, back off while the server is down."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable

from wake_edge.api_client import ApiClient, ServerError
from wake_edge.bundle import Bundle, BundleError, BundleStore

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 5.0
MAX_BACKOFF_S = 60.0


class Follower:
    """Keeps one deployment's bundle current and hands every newly installed one to `on_bundle`."""

    def __init__(
        self,
        client: ApiClient,
        store: BundleStore,
        deployment: str,
        *,
        on_bundle: Callable[[Bundle], None] = lambda bundle: None,
        poll_s: float = DEFAULT_POLL_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        current: Bundle | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.deployment = deployment
        self.on_bundle = on_bundle
        self.poll_s = poll_s
        self.max_backoff_s = max_backoff_s
        self.current = current
        self.etag: str | None = None
        self.failures = 0

    def poll_once(self) -> Bundle | None:
        """One poll: the bundle it installed, or None when nothing changed; raises ServerError or BundleError."""
        running = self.current.manifest if self.current else None
        fetched = self.client.fetch_manifest(self.deployment, etag=self.etag, running=running)
        manifest = fetched.manifest
        if manifest is None:
            return None
        if manifest.deployment != self.deployment:
            raise ServerError(f"asked for {self.deployment!r}, the server sent the manifest of {manifest.deployment!r}")
        if manifest == running:
            self.etag = fetched.etag
            return None
        with self.store.download_file() as path:
            try:
                if self.current is not None and manifest.model.sha256 == self.current.manifest.model.sha256:
                    # Only the rule changed (a threshold, the audio consent): the model file is the one running.
                    shutil.copyfile(self.current.path, path)
                else:
                    with open(path, "wb") as out:
                        self.client.download(manifest.model.url, out, max_bytes=manifest.model.size_bytes + 1)
                bundle = self.store.install(manifest, path)
            except (BundleError, ServerError) as exc:
                keeping = f"keeping v{running.version}" if running else "no model to keep yet"
                log.warning("refused bundle v%d of %s: %s; %s", manifest.version, self.deployment, exc, keeping)
                raise
        self.current, self.etag = bundle, fetched.etag
        log.info(
            "%s: installed %s (threshold %.3f, window from %s)",
            self.deployment,
            manifest.label,
            manifest.threshold,
            bundle.model.window_source,
        )
        self.on_bundle(bundle)
        return bundle

    def step(self) -> float:
        """Poll once, never raising; returns how long to wait before the next poll (backing off after failures)."""
        try:
            self.poll_once()
        except (ServerError, BundleError) as exc:
            self.failures += 1
            delay = self.backoff_s()
            if isinstance(exc, ServerError):
                running = self.current.manifest.label if self.current else "nothing yet"
                log.warning("%s: poll failed (%s); retry in %.0f s, running %s", self.deployment, exc, delay, running)
            return delay
        self.failures = 0
        return self.poll_s

    def backoff_s(self) -> float:
        """The wait after `failures` failed polls in a row: doubling from the poll interval, at most max_backoff_s."""
        return min(self.max_backoff_s, self.poll_s * 2 ** min(self.failures, 30))

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set."""
        while not stop.is_set():
            if stop.wait(self.step()):
                return

    def wait_for_bundle(self, stop: threading.Event) -> Bundle | None:
        """Poll until a first bundle is installed (a device that never had one), or None once stopped."""
        while self.current is None and not stop.is_set():
            delay = self.step()
            if self.current is None and stop.wait(delay):
                return None
        return self.current

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run in a daemon thread."""
        thread = threading.Thread(target=self.run, args=(stop,), name=f"follow-{self.deployment}", daemon=True)
        thread.start()
        return thread
