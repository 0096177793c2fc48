"""`wake-edge run` and `wake-edge detect`: a followed deployment on a live source, or a model on a file offline."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from wake_edge.actions import Actions
from wake_edge.api_client import ApiClient, is_device_token
from wake_edge.audio import read_wav
from wake_edge.bundle import CURRENT, MANIFEST_FILE, MODEL_FILE, Bundle, BundleError, BundleStore, load_bundle_dir
from wake_edge.detector import SAMPLE_RATE, Rule, Scorer, StreamDetector, WakeEvent
from wake_edge.follower import DEFAULT_POLL_S, Follower
from wake_edge.listener import Listener
from wake_edge.manifest import DEFAULT_REFRACTORY_S
from wake_edge.model import CONFIG, Model, ModelError, read_json, saved_threshold
from wake_edge.reporter import Reporter
from wake_edge.streaming_model import StreamingModel

log = logging.getLogger(__name__)

OFFLINE_BATCH = 256


@dataclass(frozen=True)
class RunOptions:
    """What `wake-edge run` was asked to do."""

    server: str
    deployment: str
    token: str | None
    state_dir: Path
    poll_s: float = DEFAULT_POLL_S
    command: str | None = None
    webhook: str | None = None
    report_audio: bool = True
    # On exit, how long the reports still queued get to reach the server.
    flush_s: float = 10.0


def format_event(event: WakeEvent) -> str:
    """One output line: `12.40s  score 0.973` (and the deployment version when there is one)."""
    line = f"{event.time_s:.2f}s  score {event.score:.3f}"
    return f"{line}  {event.scorer.label}" if event.scorer.version is not None else line


def run_device(
    options: RunOptions,
    blocks: Callable[[], Iterable[np.ndarray]],
    *,
    echo: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> int:
    """Follow the deployment and listen to `blocks()` until it ends or `stop` is set; returns the exit status."""
    stop = stop or threading.Event()
    store = BundleStore(options.state_dir, options.deployment)
    client = ApiClient(options.server, options.token)
    follower = Follower(client, store, options.deployment, poll_s=options.poll_s, current=store.current())
    if follower.current is not None:
        log.info("%s: starting on the installed %s", options.deployment, follower.current.manifest.label)
    else:
        log.info("%s: no bundle installed yet; fetching one from %s", options.deployment, options.server)
        if follower.wait_for_bundle(stop) is None:
            return 1
    assert follower.current is not None
    detector = StreamDetector(Scorer.from_bundle(follower.current))
    follower.on_bundle = lambda bundle: detector.swap(Scorer.from_bundle(bundle))
    follower.start(stop)
    reporter = Reporter(ApiClient(options.server, options.token)) if is_device_token(options.token) else None
    if reporter is None:
        log.info("not a device token: detections are not reported to the server")
    actions = Actions(command=options.command, webhook=options.webhook)

    def show(event: WakeEvent) -> None:
        if event.kind == "detection":
            echo(format_event(event))
        else:
            log.info("near miss at %.2fs (score %.3f, threshold %.3f)", event.time_s, event.score, event.threshold)

    listener = Listener(detector, reporter=reporter, actions=actions, send_audio=options.report_audio, on_event=show)
    try:
        for block in blocks():
            listener.feed(block)
            if stop.is_set():
                break
        else:
            listener.finish()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        actions.close()
        if reporter is not None and not reporter.close(options.flush_s):
            log.warning("some reports could not be sent before exiting")
    return 0


def offline_scorer(target: Path, *, threshold: float | None, refractory_s: float | None) -> tuple[Scorer, str]:
    """The scorer of a model file, a job's export folder, a bundle folder or a deployment's state folder."""
    if target.is_dir():
        if (target / MANIFEST_FILE).is_file():
            return _bundle_scorer(load_bundle_dir(target), threshold, refractory_s)
        if (target / CURRENT).is_file():
            bundle = BundleStore(target.parent, target.name).current()
            if bundle is None:
                raise BundleError(f"{target} holds no usable bundle")
            return _bundle_scorer(bundle, threshold, refractory_s)
        target = target / MODEL_FILE
    model = export_model(target)
    model.check()
    if threshold is None:
        threshold, source = saved_threshold(target)
    else:
        source = "given"
    rule = Rule(threshold, refractory_s=DEFAULT_REFRACTORY_S if refractory_s is None else refractory_s)
    if model.streaming:
        rule = replace(rule, hop_s=model.step_samples / SAMPLE_RATE)
    return Scorer(model, rule), source


def export_model(path: Path) -> Model | StreamingModel:
    """The model of a file in a job's export: its streaming form when the export has one (config.json `streaming`)
    and the file is its windowed model.onnx or a streaming graph; else the file as a windowed model."""
    contract = read_json(path.parent / CONFIG).get("streaming")
    if isinstance(contract, dict):
        graphs = {contract.get("onnx"), contract.get("onnx_int8")}
        if path.name == MODEL_FILE or path.name in graphs:
            graph = path if path.name in graphs else path.parent / str(contract.get("onnx"))
            if graph.is_file():
                return StreamingModel(graph, contract)
    return Model(path)


def detect_file(
    target: Path,
    wav: Path,
    *,
    threshold: float | None = None,
    refractory_s: float | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """Print each detection of a model in a sound file and a summary line; returns the exit status."""
    try:
        scorer, source = offline_scorer(target, threshold=threshold, refractory_s=refractory_s)
    except (BundleError, ModelError, OSError) as exc:
        echo(f"error: {exc}")
        return 2
    audio = read_wav(wav)
    detector = StreamDetector(scorer, max_batch=OFFLINE_BATCH)
    events = detector.feed(audio) + detector.finish()
    detections = [event for event in events if event.kind == "detection"]
    for event in detections:
        echo(format_event(event))
    noun = "detection" if len(detections) == 1 else "detections"
    echo(
        f"{len(detections)} {noun} in {audio.size / SAMPLE_RATE:.1f}s of audio "
        f"(threshold {scorer.rule.threshold:.3f} from {source}, refractory {scorer.rule.refractory_s:g}s, "
        f"window {scorer.model.window_samples / SAMPLE_RATE:g}s)"
    )
    return 0


def _bundle_scorer(bundle: Bundle, threshold: float | None, refractory_s: float | None) -> tuple[Scorer, str]:
    scorer = Scorer.from_bundle(bundle)
    rule = scorer.rule
    if threshold is not None:
        rule = replace(rule, threshold=threshold)
    if refractory_s is not None:
        rule = replace(rule, refractory_s=refractory_s)
    source = "given" if threshold is not None else f"the manifest of {bundle.manifest.label}"
    return replace(scorer, rule=rule), source
