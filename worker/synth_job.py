"""A synthesize job: espeak-ng, Pico and Piper clips of the phrase, near misses and noise, stored in the dataset."""

from __future__ import annotations

from collections import Counter

from shared.audio import normalize_clip
from shared.db.models import Clip, Job
from shared.settings import Settings
from shared.storage import Storage
from worker.jobs import JobStore

BATCH = 50
# Clips of each label the job page offers to play: enough to hear the voices, few enough to load at once.
SAMPLES_PER_LABEL = 2


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
    added, skipped = [], 0
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
        progress = {"clips_added": len(added), "added_by_label": dict(Counter(row.label for row in added))}
        hooks.progress(epoch=1, epochs=1, step=done, total_steps=len(clips), loss=0.0, metrics=progress)
    hooks.log(f"stored {len(added)} clips ({seconds:.0f} s of audio); {skipped} were already in the dataset")
    return "succeeded" if store.succeed(job.id, attempt, synthesis_metrics(added, skipped, seconds), []) else "lost"


def synthesis_metrics(added: list[Clip], skipped: int, seconds: float) -> dict:
    """What the job page shows of a synthesis: clips added by label and by voice, and a few of each label to play."""
    samples: list[dict] = []
    for label in ("positive", "negative", "noise"):
        rows = [row for row in added if row.label == label][:SAMPLES_PER_LABEL]
        samples += [{"id": str(row.id), "label": row.label, "speaker": row.speaker, "text": row.notes} for row in rows]
    return {
        "clips_added": len(added),
        "clips_skipped": skipped,
        "seconds": round(seconds, 2),
        "added_by_label": dict(Counter(row.label for row in added)),
        # A speaker is a voice with its rate and pitch (`espeak:en-us+m3@r140p50`): the voice is what a person picks.
        "voices": dict(
            Counter(row.speaker.split("@")[0] for row in added if row.label != "noise" and row.speaker).most_common()
        ),
        "samples": samples,
    }
