"""Home Assistant's wake word engine over the Wyoming protocol, serving the deployments this runtime follows."""

# What Home Assistant's wyoming integration does (homeassistant/components/wyoming/wake_word.py): `describe` for the
# info (it takes the first installed wake program, its models' names as wake word ids); then per pipeline run a new
# connection with `detect` (names = [the chosen id]), `audio-start` (16 kHz, 16-bit, mono) and `audio-chunk`s with
# millisecond timestamps, until it reads a `detection` whose name is the id; it sends no `audio-stop` itself, it
# hangs up. Other clients do send `audio-stop` and expect `not-detected` when nothing fired.

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, WakeModel, WakeProgram
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.wake import Detect, Detection, NotDetected

from wake_edge import __version__
from wake_edge.api_client import ApiClient, ServerError, is_device_token
from wake_edge.bundle import Bundle, BundleStore
from wake_edge.detector import SAMPLE_RATE, Scorer, StreamDetector
from wake_edge.follower import DEFAULT_POLL_S, Follower
from wake_edge.listener import Listener
from wake_edge.reporter import Reporter
from wake_edge.sources import WyomingAudio

log = logging.getLogger(__name__)

PROGRAM = "wake-training"


@dataclass
class _Followed:
    follower: Follower
    stop: threading.Event
    thread: threading.Thread | None = None


@dataclass
class Deployments:
    """The deployments served, each kept current by a Follower thread; with `names` None, every deployment there is."""

    server: str
    token: str | None
    state_dir: Path
    names: list[str] | None = None
    poll_s: float = DEFAULT_POLL_S
    _followed: dict[str, _Followed] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def bundles(self) -> dict[str, Bundle]:
        """The current bundle of each deployment that has one, by name."""
        with self._lock:
            followed = dict(self._followed)
        return {name: item.follower.current for name, item in sorted(followed.items()) if item.follower.current}

    def get(self, name: str) -> Bundle | None:
        """One deployment's current bundle."""
        with self._lock:
            item = self._followed.get(name)
        return item.follower.current if item else None

    def start(self) -> None:
        """Start following: the named deployments at once, or every deployment, listed again every poll."""
        if self.names is not None:
            self._follow(self.names)
            return
        threading.Thread(target=self._watch_list, name="deployment-list", daemon=True).start()

    def stop(self) -> None:
        """Stop every follower."""
        self._stop.set()
        with self._lock:
            for item in self._followed.values():
                item.stop.set()

    def _follow(self, names: list[str]) -> None:
        for name in names:
            with self._lock:
                if name in self._followed:
                    continue
                store = BundleStore(self.state_dir, name)
                follower = Follower(
                    ApiClient(self.server, self.token), store, name, poll_s=self.poll_s, current=store.current()
                )
                item = _Followed(follower, threading.Event())
                self._followed[name] = item
            if follower.current is not None:
                log.info("serving %s from the installed %s", name, follower.current.manifest.label)
            item.thread = follower.start(item.stop)

    def _watch_list(self) -> None:
        client = ApiClient(self.server, self.token)
        failures = 0
        while not self._stop.is_set():
            try:
                names = client.list_deployments()
            except ServerError as exc:
                failures += 1
                delay = min(60.0, self.poll_s * 2 ** min(failures, 30))
                log.warning("cannot list the deployments (%s); retry in %.0f s", exc, delay)
            else:
                failures, delay = 0, self.poll_s
                self._follow(names)
                with self._lock:
                    gone = [name for name in self._followed if name not in names]
                    for name in gone:
                        log.info("%s was deleted on the server: no longer served", name)
                        self._followed.pop(name).stop.set()
            self._stop.wait(delay)


@dataclass(frozen=True)
class ServeOptions:
    """How streams are reported."""

    server: str
    reporter: Reporter | None = None
    report_audio: bool = True


def info(deployments: Deployments, server: str) -> Info:
    """The answer to `describe`: one wake program with a model per deployment that has a bundle."""
    models = []
    for name, bundle in deployments.bundles().items():
        manifest = bundle.manifest
        models.append(
            WakeModel(
                name=name,
                description=manifest.phrase or name,
                phrase=manifest.phrase or None,
                attribution=Attribution(name=PROGRAM, url=server),
                installed=True,
                languages=[manifest.language] if manifest.language else [],
                version=f"v{manifest.version}",
            )
        )
    return Info(
        wake=[
            WakeProgram(
                name=PROGRAM,
                description="Wake words trained with wake-training",
                attribution=Attribution(name=PROGRAM, url=server),
                installed=True,
                version=__version__,
                models=models,
            )
        ]
    )


class WakeHandler(AsyncEventHandler):
    """One client connection: describe, then any number of detect / audio-start / chunks / audio-stop rounds."""

    def __init__(self, deployments: Deployments, options: ServeOptions, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.deployments = deployments
        self.options = options
        self.names: list[str] | None = None
        self.listeners: dict[str, tuple[Listener, Bundle]] = {}
        self.audio: WyomingAudio | None = None
        self.origin_ms = 0
        self.samples = 0
        self.detected = False
        self.refused = False  # after an error, this stream's audio is ignored until the next detect

    async def handle_event(self, event: Event) -> bool:
        """Answer one event; False hangs up."""
        if Describe.is_type(event.type):
            await self.write_event(info(self.deployments, self.options.server).event())
        elif Detect.is_type(event.type):
            self.names = Detect.from_event(event).names or None
            self.listeners, self.refused = {}, False
        elif AudioStart.is_type(event.type):
            await self._start()
        elif AudioChunk.is_type(event.type) and not self.refused:
            # A client that skips audio-start gets the stream started by its first chunk.
            if self.audio is not None or await self._start():
                await self._chunk(AudioChunk.from_event(event))
        elif AudioStop.is_type(event.type) and self.audio is not None:
            await self._stop()
        return True

    async def disconnect(self) -> None:
        """Home Assistant hangs up once it has its detection: reports waiting for more audio go with what came."""
        for listener, _running in self.listeners.values():
            listener.hang_up()
        self.listeners = {}

    async def _start(self) -> bool:
        """Begin a stream with a detector per wanted deployment; False (and an error event) if none is served."""
        bundles = self.deployments.bundles()
        wanted = self.names or list(bundles)
        known = [name for name in wanted if name in bundles]
        if not known:
            text = f"no model for {', '.join(wanted) or 'any deployment'} here yet (serving: {', '.join(bundles)})"
            log.warning(text)
            await self.write_event(Error(text=text, code="unknown-wake-word").event())
            self.refused, self.audio = True, None
            return False
        self.listeners = {name: (self._listener(bundles[name]), bundles[name]) for name in known}
        self.audio, self.samples, self.detected, self.origin_ms = WyomingAudio(), 0, False, 0
        return True

    def _listener(self, bundle: Bundle) -> Listener:
        return Listener(
            StreamDetector(Scorer.from_bundle(bundle)),
            reporter=self.options.reporter,
            send_audio=self.options.report_audio,
        )

    async def _chunk(self, chunk: AudioChunk) -> None:
        assert self.audio is not None
        if self.samples == 0 and chunk.timestamp is not None:
            self.origin_ms = int(chunk.timestamp)  # detections on the client's clock, as its chunks are
        samples = self.audio.convert(chunk)
        self.samples += samples.size
        for name, (listener, running) in list(self.listeners.items()):
            current = self.deployments.get(name)
            if current is not None and current is not running:
                # The deployment changed mid-stream: the new model takes over at the next hop, no audio lost.
                listener.detector.swap(Scorer.from_bundle(current))
                self.listeners[name] = (listener, current)
            events = await asyncio.to_thread(listener.feed, samples)
            await self._report(name, events)

    async def _stop(self) -> None:
        for name, (listener, _running) in self.listeners.items():
            await self._report(name, await asyncio.to_thread(listener.finish))
        if not self.detected:
            await self.write_event(NotDetected().event())
        self.audio = None

    async def _report(self, name: str, events: list) -> None:
        for event in events:
            if event.kind != "detection":
                continue
            self.detected = True
            timestamp = self.origin_ms + round(event.end_sample * 1000 / SAMPLE_RATE)
            log.info("%s detected at %d ms (score %.3f)", name, timestamp, event.score)
            await self.write_event(Detection(name=name, timestamp=timestamp).event())


async def serve(uri: str, deployments: Deployments, options: ServeOptions) -> None:
    """Run the Wyoming server until cancelled."""
    server = AsyncServer.from_uri(uri)
    log.info("Wyoming wake word server on %s", uri)
    await server.run(partial(WakeHandler, deployments, options))


def run_wyoming(
    uri: str,
    *,
    server: str,
    token: str | None,
    state_dir: Path,
    names: list[str] | None,
    poll_s: float = DEFAULT_POLL_S,
    report_audio: bool = True,
    runner: Callable[..., object] = asyncio.run,
) -> int:
    """`wake-edge wyoming`: follow the deployments and serve them until interrupted."""
    deployments = Deployments(server, token, state_dir, names, poll_s)
    deployments.start()
    reporter = Reporter(ApiClient(server, token)) if is_device_token(token) else None
    try:
        runner(serve(uri, deployments, ServeOptions(server, reporter, report_audio)))
    except KeyboardInterrupt:
        pass
    finally:
        deployments.stop()
        if reporter is not None:
            reporter.close()
    return 0
