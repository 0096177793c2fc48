"""A synthesize job: espeak-ng, Pico and Piper clips of the phrase, near misses and noise, stored in the dataset."""

from __future__ import annotations

from collections import Counter

from shared.audio import normalize_clip
from shared.db.models import Job
from shared.settings import Settings
from shared.storage import Storage
from worker.jobs import JobStore

BATCH = 50


def run_synthesis(job: Job, attempt: int, *, store: JobStore, settings: Settings, hooks, stop) -> str:
    """Synthesize and store the clips in batches (cancel is honoured between batches); returns the final status."""
    from worker.synthesis import synthesize_set, to_wav_bytes

    config = job.config
    hooks.log(
        f"synthesizing {config['positives']} positives of {config['phrase']!r} ({config['language']}), "
        f"{config['negatives']} near-miss negatives and {config['noise']} noise clips"
    )
    clips = synthesize_set(
        config["phrase"],
        language=config["language"],
        positives=config["positives"],
        negatives=config["negatives"],
        noise=config["noise"],
        seed=config["seed"],
        voices=config.get("voices"),
        engines=config.get("engines"),
        piper_voices_dir=settings.resolved_piper_voices_dir,
    )
    used = Counter(clip.speaker.split(":")[0] for clip in clips if clip.label != "noise")
    hooks.log(f"engines: {', '.join(f'{engine} ({n} clips)' for engine, n in sorted(used.items())) or 'none'}")
    storage = Storage(settings.data_dir)
    added = skipped = 0
    seconds = 0.0
    for start in range(0, len(clips), BATCH):
        if stop():
            return "stopped"
        items = []
        for clip in clips[start : start + BATCH]:
            audio = normalize_clip(
                to_wav_bytes(clip.audio), min_seconds=settings.min_clip_seconds, max_seconds=settings.max_clip_seconds
            )
            items.append((audio, clip.label, clip.speaker, clip.text))
            seconds += audio.duration_s
        stored = store.add_clips(job.id, attempt, storage, items)
        if stored is None:
            return "lost"
        added, skipped = added + stored[0], skipped + stored[1]
        done = min(len(clips), start + BATCH)
        hooks.progress(epoch=1, epochs=1, step=done, total_steps=len(clips), loss=0.0, metrics={"clips_added": added})
    hooks.log(f"stored {added} clips ({seconds:.0f} s of audio); {skipped} were already in the dataset")
    metrics = {"clips_added": added, "clips_skipped": skipped, "seconds": round(seconds, 2)}
    return "succeeded" if store.succeed(job.id, attempt, metrics, []) else "lost"
