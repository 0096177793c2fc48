"""The `wake-training` command: serve, worker, migrate, reconcile, detect, synth."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from shared.settings import Settings, get_settings
from shared.training_config import PresetError

if TYPE_CHECKING:
    from shared.storage import ReconcileReport


@click.group()
def main() -> None:
    """wake-training: train custom wake-word models from recorded clips."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: WAKE_TRAINING_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (default: WAKE_TRAINING_PORT, 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Run the API (and, with no broker configured, the embedded worker)."""
    from api.app import create_app
    from api.server import serve_app
    from shared.db.session import is_sqlite

    settings = get_settings()
    _check_presets(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    if is_sqlite(url):
        # Embedded: this process owns the SQLite file, so it brings the schema up to date itself
        # and nothing else can be mid-write: reconcile with no grace period.
        _migrate(url)
        _reconcile(grace_s=0)
    click.echo(f"wake-training on http://{host or settings.host}:{port or settings.port} ({url.split(':')[0]})")
    serve_app(create_app(settings), host or settings.host, port or settings.port)


@main.command()
@click.option("--concurrency", "-c", default=1, show_default=True, help="Jobs at once (one per GPU).")
@click.option("--queues", "-Q", default="training", show_default=True, help="Queues to consume, comma separated.")
@click.option("--hostname", "-n", default=None, help="Worker name (default: worker-<pid>@<host>).")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
def worker(concurrency: int, queues: str, hostname: str | None, loglevel: str) -> None:
    """Run a Celery worker that trains jobs from the broker (WAKE_TRAINING_BROKER_URL)."""
    import os

    settings = get_settings()
    if not settings.broker_url:
        raise click.UsageError(
            "WAKE_TRAINING_BROKER_URL is not set: a worker needs the broker (embedded mode trains inside `serve`)"
        )
    # Jobs carry their resolved config, so a worker needs no preset; it refuses a bad setting all the same, so that
    # a deployment with one fails at once everywhere rather than at the API alone.
    _check_presets(settings)
    from worker.celery_app import app

    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--queues={queues}",
        f"--hostname={hostname or f'worker-{os.getpid()}@%h'}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    app.worker_main(argv)


@main.command()
def migrate() -> None:
    """Upgrade the configured database to the newest schema."""
    _migrate(get_settings().resolved_database_url)
    click.echo("database is at the newest schema")


@main.command()
@click.option("--grace", default=None, type=float, help="Leave files younger than this many seconds alone.")
def reconcile(grace: float | None) -> None:
    """Make the data volume agree with the database after a crash (the database wins)."""
    from shared.reconcile import DEFAULT_GRACE_S

    report = _reconcile(grace_s=DEFAULT_GRACE_S if grace is None else grace)
    click.echo(
        f"removed {report.removed_orphans} orphan files and {report.removed_dataset_dirs} dataset folders; "
        f"moved {report.moved_to_trash} to trash and {report.moved_to_clips} back to clips; "
        f"{report.missing_files} clips have no file; removed the clip links of {report.removed_job_inputs} "
        "job attempts no longer running"
    )


def _check_presets(settings: Settings) -> None:
    """Stop with WAKE_TRAINING_PRESETS's one-line problem, before anything starts."""
    try:
        settings.training_presets()
    except PresetError as exc:
        raise click.ClickException(str(exc)) from None


def _migrate(url: str) -> None:
    import migrations

    migrations.upgrade(url)


def _reconcile(*, grace_s: float) -> ReconcileReport:
    from shared.reconcile import reconcile_configured_volume

    return reconcile_configured_volume(get_settings(), grace_s=grace_s)


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("audio", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--threshold", default=None, type=float, help="Wake probability to fire at (default: metrics.json's, else 0.5)."
)
@click.option("--refractory", default=1.0, show_default=True, type=float, help="Seconds before a detection can repeat.")
@click.option("--mic", is_flag=True, help="Listen to the microphone instead of a file (needs `sounddevice`).")
def detect(model: str, audio: str | None, threshold: float | None, refractory: float, mic: bool) -> None:
    """Run an exported MODEL.onnx over a sound file (or the microphone) and print each detection."""
    from pathlib import Path

    from worker.detect import run

    audio_path = None if audio is None else Path(audio)
    status = run(Path(model), audio_path, threshold=threshold, refractory_s=refractory, mic=mic, echo=click.echo)
    if status:
        raise SystemExit(status)


@main.command()
@click.argument("phrase")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write clips into.")
@click.option("--language", default="en", show_default=True, help="Language code (en, de, fr, ...).")
@click.option("--positives", default=50, show_default=True, type=click.IntRange(min=0), help="Clips of the phrase.")
@click.option("--negatives", default=100, show_default=True, type=click.IntRange(min=0), help="Near misses and speech.")
@click.option("--noise", default=10, show_default=True, type=click.IntRange(min=0), help="Coloured-noise clips.")
@click.option("--seed", default=0, show_default=True, type=int, help="The same seed gives the same clips.")
@click.option(
    "--voice",
    "voices",
    multiple=True,
    help="Only this voice (en-us; pico:en-GB for Pico; piper:NAME for a Piper voice file); repeat for several.",
)
@click.option(
    "--engine",
    "engines",
    multiple=True,
    type=click.Choice(["espeak", "pico", "piper"]),
    help="Only this engine; repeat for several (default: every engine with a voice for the language).",
)
@click.option(
    "--piper-voices",
    "piper_voices",
    type=click.Path(file_okay=False, exists=True),
    help="Folder of Piper voice files (NAME.onnx + NAME.onnx.json); default: the service's Piper voices folder.",
)
def synth(
    phrase: str,
    out_dir: str,
    language: str,
    positives: int,
    negatives: int,
    noise: int,
    seed: int,
    voices: tuple[str, ...],
    engines: tuple[str, ...],
    piper_voices: str | None,
) -> None:
    """Synthesize PHRASE and its near misses (espeak-ng, Pico, Piper) into OUT/{positive,negative,noise}/NNNN.wav."""
    import json
    import time
    from pathlib import Path

    from worker.synthesis import synthesize_set, to_wav_bytes

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        # Mixing a new set into an old one would leave clips the manifest does not describe.
        raise click.UsageError(f"{out} is not empty; choose a new folder or empty this one")
    started = time.monotonic()
    try:
        clips = synthesize_set(
            phrase,
            language=language,
            positives=positives,
            negatives=negatives,
            noise=noise,
            seed=seed,
            voices=list(voices) or None,
            engines=list(engines) or None,
            piper_voices_dir=Path(piper_voices) if piper_voices else get_settings().resolved_piper_voices_dir,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    entries = []
    counts = {"positive": 0, "negative": 0, "noise": 0}
    for clip in clips:
        relative = f"{clip.label}/{counts[clip.label]:04d}.wav"
        counts[clip.label] += 1
        (out / clip.label).mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(to_wav_bytes(clip.audio))
        entries.append(
            {
                "file": relative,
                "label": clip.label,
                "text": clip.text,
                "speaker": clip.speaker,
                "duration_s": round(clip.duration_s, 3),
            }
        )
    manifest = {"phrase": phrase, "language": language, "seed": seed, "clips": entries}
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    audio_s = sum(clip.duration_s for clip in clips)
    click.echo(
        f"wrote {counts['positive']} positive, {counts['negative']} negative and {counts['noise']} noise clips "
        f"({audio_s:.1f} s of audio) to {out} in {time.monotonic() - started:.1f} s"
    )
