"""The `wake-edge` command: `run` (follow a deployment on a device), `wyoming` (serve Home Assistant), `detect`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from wake_edge import __version__
from wake_edge.follower import DEFAULT_POLL_S
from wake_edge.runner import RunOptions, detect_file, run_device
from wake_edge.sources import MicrophoneUnavailable, mic_blocks, stdin_blocks, wav_blocks
from wake_edge.wyoming_server import run_wyoming


def default_state_dir() -> Path:
    """$WAKE_EDGE_STATE_DIR, else $XDG_STATE_HOME/wake-edge, else ~/.local/state/wake-edge."""
    if os.environ.get("WAKE_EDGE_STATE_DIR"):
        return Path(os.environ["WAKE_EDGE_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "wake-edge"


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="wake-edge", description=__doc__)
    top.add_argument("--version", action="version", version=f"wake-edge {__version__}")
    top.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = top.add_subparsers(dest="command", required=True)

    def following(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--server", required=True, help="the wake-training API, e.g. http://trainer.local:8080")
        sub.add_argument(
            "--token",
            default=os.environ.get("WAKE_EDGE_TOKEN"),
            help="a device token (wtd_…) from POST /devices, or an admin token; default $WAKE_EDGE_TOKEN",
        )
        sub.add_argument("--state-dir", type=Path, default=default_state_dir(), help="where bundles are kept")
        sub.add_argument("--poll-s", type=float, default=DEFAULT_POLL_S, help="seconds between manifest polls")
        sub.add_argument(
            "--no-report-audio",
            dest="report_audio",
            action="store_false",
            help="never send audio with reports, even where the device's consent setting allows it",
        )

    run = commands.add_parser("run", help="follow a deployment and listen to a microphone, stdin or a WAV file")
    following(run)
    run.add_argument("--deployment", required=True)
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--wav", type=Path, help="a sound file (any rate or channels), then exit")
    source.add_argument("--stdin", action="store_true", help="raw PCM16 16 kHz mono on standard input")
    source.add_argument("--mic", action="store_true", help="the default microphone (needs the `mic` extra)")
    run.add_argument("--mic-device", default=None, help="a sounddevice input device name or number")
    run.add_argument("--command", help="a shell command to run on each detection (gets WAKE_* variables)")
    run.add_argument("--webhook", help="a URL to POST each detection to as JSON")

    wyoming = commands.add_parser("wyoming", help="serve deployments to Home Assistant over the Wyoming protocol")
    following(wyoming)
    wyoming.add_argument("--uri", default="tcp://0.0.0.0:10400", help="tcp://HOST:PORT, unix://PATH or stdio://")
    which = wyoming.add_mutually_exclusive_group(required=True)
    which.add_argument("--deployment", action="append", dest="deployments", help="a deployment to serve (repeat)")
    which.add_argument("--all", action="store_true", help="every deployment on the server (needs an admin token)")

    detect = commands.add_parser("detect", help="run a model on a sound file offline")
    detect.add_argument("model", type=Path, help="model.onnx, a job's export folder or a bundle folder")
    detect.add_argument("audio", type=Path)
    detect.add_argument("--threshold", type=float, default=None)
    detect.add_argument("--refractory", type=float, default=None, help="seconds (default: the bundle's, else 1)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `wake-edge`."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per poll otherwise
    if args.command == "detect":
        return detect_file(args.model, args.audio, threshold=args.threshold, refractory_s=args.refractory)
    if args.command == "wyoming":
        return run_wyoming(
            args.uri,
            server=args.server,
            token=args.token,
            state_dir=args.state_dir,
            names=None if args.all else args.deployments,
            poll_s=args.poll_s,
            report_audio=args.report_audio,
        )
    options = RunOptions(
        server=args.server,
        deployment=args.deployment,
        token=args.token,
        state_dir=args.state_dir,
        poll_s=args.poll_s,
        command=args.command,
        webhook=args.webhook,
        report_audio=args.report_audio,
    )
    if args.wav:
        blocks = lambda: wav_blocks(args.wav)  # noqa: E731
    elif args.stdin:
        blocks = lambda: stdin_blocks(sys.stdin.buffer)  # noqa: E731
    else:
        device = int(args.mic_device) if args.mic_device and args.mic_device.isdigit() else args.mic_device
        blocks = lambda: mic_blocks(device)  # noqa: E731
    # systemd stops a service with SIGTERM: end as on Ctrl-C, so that queued reports get their chance to go out.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_device(options, blocks, echo=lambda line: print(line, flush=True))
    except MicrophoneUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
