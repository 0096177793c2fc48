"""espeak-ng smoke test: a quick check that training still works, on espeak-ng accents held out of training.

It says nothing about real voices: the held-out accents are the same engine the model was trained on. For accuracy,
use bench/heldout.py (the dev benchmark: other engines, rooms, background, near misses).

Trains with the product's default config on espeak-ng clips spoken in some English accents, then scores the exported
ONNX model and its calibrated threshold (worker.detect, onnxruntime only):
- FRR: the phrase spoken in the held-out accents (every variant, rate and pitch drawn at random), each utterance
  placed in a few seconds of quiet room noise and streamed at the deployed hop;
- FA/h: an hour of other synthesized speech (sentences built from templates, none in the training set) in the
  held-out accents, interleaved with coloured-noise stretches; and, separately, a stream of near-miss phrases.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import harness
import numpy as np
import torch

from shared.audio import normalize_clip
from shared.settings import Settings
from shared.training_config import TrainingConfig, resolve_config
from worker.detect import WakeWordDetector
from worker.synthesis import EspeakSynthesizer, coloured_noise, near_misses, synthesize_set, to_wav_bytes
from worker.training.background import ENDINGS, OBJECTS, SUBJECTS, VERBS
from worker.training.streaming import count_detections
from worker.training.trainer import TrainingClip, train

SAMPLE_RATE = 16_000
HELD_OUT_VOICES = ("en-gb-scotland", "en-us-nyc")
"""Accents never used for the training set; everything the benchmark scores is spoken in them."""
CONTEXT_S = (1.0, 1.5)
"""Quiet audio before and after each test utterance, as a live microphone would hear around it."""
NOISE_SHARE = 0.2
"""Of the hour of background audio, the share that is coloured noise rather than speech."""


def background_sentences(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct everyday sentences from the speech bank's templates (a smoke test: the bank trains on them too)."""
    combos = list(itertools.product(SUBJECTS, VERBS, OBJECTS, ENDINGS))
    picked = rng.choice(len(combos), size=min(count, len(combos)), replace=False)
    return [" ".join(filter(None, combos[i])) for i in picked]


def speak_random(
    synth: EspeakSynthesizer, text: str, rng: np.random.Generator, variants: list[str | None]
) -> np.ndarray:
    """The text in a random held-out accent, variant, rate and pitch."""
    voice = HELD_OUT_VOICES[int(rng.integers(len(HELD_OUT_VOICES)))]
    variant = variants[int(rng.integers(len(variants)))]
    rate = int(rng.integers(120, 240))
    pitch = int(rng.integers(15, 85))
    return synth.speak(text, voice=voice, variant=variant, rate_wpm=rate, pitch=pitch)


def room_noise(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Quiet pink-ish noise at -60 to -45 dBFS: a room with nobody talking."""
    noise = coloured_noise(rng, samples / SAMPLE_RATE, "pink")[:samples]
    noise = np.pad(noise, (0, samples - noise.size))
    level = 10 ** (rng.uniform(-60, -45) / 20)
    return (noise * level / max(float(np.sqrt(np.mean(noise**2))), 1e-12)).astype(np.float32)


def training_clips(phrase: str, args: argparse.Namespace, folder: Path) -> list[TrainingClip]:
    """The training set, in every English accent but the held-out ones, stored as the service would store it."""
    synth = EspeakSynthesizer("en")
    voices = [v for v in synth.voices() if v not in HELD_OUT_VOICES]
    clips = synthesize_set(
        phrase, positives=args.positives, negatives=args.negatives, noise=args.noise, seed=args.seed, voices=voices
    )
    limits = Settings.model_fields
    out = []
    for i, clip in enumerate(clips):
        stored = normalize_clip(
            to_wav_bytes(clip.audio),
            min_seconds=limits["min_clip_seconds"].default,
            max_seconds=limits["max_clip_seconds"].default,
        )
        path = folder / f"{i:05d}.wav"
        path.write_bytes(stored.wav_bytes)
        out.append(TrainingClip(clip_id=str(i), path=path, label=clip.label, speaker=clip.speaker))
    return out


class QuietHooks:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def progress(self, **kwargs: object) -> None:
        metrics = kwargs["metrics"]
        assert isinstance(metrics, dict)
        print(
            f"  epoch {kwargs['epoch']}/{kwargs['epochs']}: loss {kwargs['loss']:.4f}, "
            f"val_frr {metrics.get('val_frr', float('nan')):.3f}",
            flush=True,
        )

    def log(self, message: str, level: str = "info") -> None:
        self.lines.append(message)
        if message.startswith(("threshold", "keeping", "early stop", "validation split")):
            print(f"  {message}", flush=True)

    def should_stop(self) -> bool:
        return False


def frr_on_held_out(detector: WakeWordDetector, phrase: str, count: int, rng: np.random.Generator) -> dict:
    """Each held-out utterance in its own short stream; a miss is a stream with no detection at the phrase."""
    synth = EspeakSynthesizer("en")
    variants: list[str | None] = [None, *synth.variants()]
    misses = early = 0
    best_scores = []
    for _ in range(count):
        speech = speak_random(synth, phrase, rng, variants)
        before, after = (round(rng.uniform(*CONTEXT_S) * SAMPLE_RATE) for _ in range(2))
        stream = room_noise(rng, before + speech.size + after)
        stream[before : before + speech.size] += speech
        end_s = (before + speech.size) / SAMPLE_RATE
        scores = detector.scores(stream)
        best_scores.append(float(scores.max()))
        found = [
            detector.window_end_s(i, stream.size / SAMPLE_RATE)
            for i in count_detections(scores, detector.threshold, hop_s=detector.hop_s, refractory_s=1.0)
        ]
        on_time = [t for t in found if abs(t - end_s) <= 0.5]
        misses += not on_time
        early += bool(found) and not on_time
    return {"utterances": count, "misses": misses, "frr": misses / count, "off_time": early, "scores": best_scores}


def background_hour(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Speech in the held-out accents with coloured-noise stretches, `seconds` long; and the speech share."""
    synth = EspeakSynthesizer("en")
    variants: list[str | None] = [None, *synth.variants()]
    target = round(seconds * SAMPLE_RATE)
    parts: list[np.ndarray] = []
    total = speech_samples = 0
    sentences = iter(background_sentences(rng, 20_000))
    while total < target:
        if rng.random() < NOISE_SHARE / 2:
            colour = ("white", "pink", "brown", "blue", "violet")[int(rng.integers(5))]
            part = coloured_noise(rng, rng.uniform(5.0, 20.0), colour)
        else:
            part = speak_random(synth, next(sentences), rng, variants)
            speech_samples += part.size
            part = np.concatenate([part, room_noise(rng, round(rng.uniform(0.1, 0.8) * SAMPLE_RATE))])
        parts.append(part)
        total += part.size
    return np.concatenate(parts)[:target], speech_samples / total


def near_miss_stream(phrase: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """Near-miss phrases (parts of the phrase, sound-alikes) one after another in the held-out accents."""
    synth = EspeakSynthesizer("en")
    variants: list[str | None] = [None, *synth.variants()]
    texts = near_misses(phrase)
    parts = []
    for i in range(count):
        parts.append(speak_random(synth, texts[i % len(texts)], rng, variants))
        parts.append(room_noise(rng, round(rng.uniform(0.3, 1.0) * SAMPLE_RATE)))
    return np.concatenate(parts)


def train_and_report(args: argparse.Namespace, config: TrainingConfig, root: Path, export: Path) -> None:
    """Synthesize the training set, train on it into `export` (copied to --save), and print what it took."""
    (root / "clips").mkdir()
    started = time.perf_counter()
    clips = training_clips(args.phrase, args, root / "clips")
    print(f"synthesized {len(clips)} training clips in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    result = train(clips, config, export, QuietHooks(), device="cpu", cache_dir=root / "cache")
    if args.save:
        shutil.copytree(export, args.save, dirs_exist_ok=True)
    m = result.metrics
    print(
        f"trained in {time.perf_counter() - started:.1f}s ({int(m['steps'])} steps, best epoch "
        f"{int(m['best_epoch'])} of {int(m['epochs_run'])}); validation: FRR {m.get('val_frr', float('nan')):.3f} "
        f"at {m.get('val_fa_per_hour', float('nan')):.2f} FA/h, threshold {m.get('threshold', float('nan')):.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phrase", default="hey jarvis")
    parser.add_argument("--positives", type=harness.positive_int, default=400)
    parser.add_argument("--negatives", type=harness.positive_int, default=800)
    parser.add_argument("--noise", type=harness.positive_int, default=80)
    parser.add_argument("--test-utterances", type=harness.positive_int, default=300)
    parser.add_argument("--background-s", type=float, default=3600.0, help="seconds of background audio (an hour)")
    parser.add_argument("--near-misses", type=harness.positive_int, default=600)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--overrides", default="{}", help="JSON config overrides for the training run")
    parser.add_argument("--threads", type=harness.positive_int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="copy the trained model's export folder here")
    parser.add_argument("--model", type=Path, help="score this export folder instead of training a model")
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    torch.set_num_threads(args.threads)
    config: TrainingConfig = resolve_config(args.preset, {"seed": args.seed, **json.loads(args.overrides)})
    print("a smoke test only: espeak-ng accents say nothing about real voices (bench/heldout.py measures accuracy)")
    print(f"held-out accents: {', '.join(HELD_OUT_VOICES)}; config {config}")
    with tempfile.TemporaryDirectory(prefix="wake-training-bench-espeak-smoke-") as tmp:
        root = Path(tmp)
        if args.model:
            export = args.model
            print(f"scoring the model in {export} (no training)")
        else:
            export = root / "export"
            train_and_report(args, config, root, export)

        detector = WakeWordDetector(export / "model.onnx", threads=1)
        rng = np.random.default_rng(args.seed + 1)
        started = time.perf_counter()
        frr = frr_on_held_out(detector, args.phrase, args.test_utterances, rng)
        print(f"held-out positives scored in {time.perf_counter() - started:.1f}s")

        started = time.perf_counter()
        hour, speech_share = background_hour(args.background_s, rng)
        synth_s = time.perf_counter() - started
        started = time.perf_counter()
        scores = detector.scores(hour)
        score_s = time.perf_counter() - started
        duration_s = hour.size / SAMPLE_RATE
        false_accepts = len(count_detections(scores, detector.threshold, hop_s=detector.hop_s, refractory_s=1.0))
        print(
            f"background: {duration_s:.0f}s ({100 * speech_share:.0f}% speech) synthesized in {synth_s:.1f}s, "
            f"scored in {score_s:.1f}s ({1000 * score_s / duration_s:.2f} ms per second of audio)"
        )
        misses_audio = near_miss_stream(args.phrase, args.near_misses, rng)
        miss_scores = detector.scores(misses_audio)
        miss_s = misses_audio.size / SAMPLE_RATE
        miss_fa = len(count_detections(miss_scores, detector.threshold, hop_s=detector.hop_s, refractory_s=1.0))

    rows = [
        ["FRR, held-out accents", f"{frr['misses']} of {frr['utterances']}", f"{frr['frr']:.3f}"],
        ["FA/h, speech + noise", f"{false_accepts} in {duration_s:.0f}s", f"{false_accepts * 3600 / duration_s:.2f}"],
        ["FA/h, near-miss phrases only", f"{miss_fa} in {miss_s:.0f}s", f"{miss_fa * 3600 / miss_s:.1f}"],
    ]
    print(f"\nAt the calibrated threshold {detector.threshold:.3f} (target {config.target_fa_per_hour} FA/h):")
    harness.print_table(("measure", "count", "value"), rows, text_columns=1)
    print(
        f"positives missed at the right time but detected elsewhere: {frr['off_time']}; median best score of the "
        f"held-out positives {np.median(frr['scores']):.3f}"
    )
    # The same audio at other thresholds: what a user trading misses for quiet would get (FRR here counts an
    # utterance as heard if its best window reaches the threshold, on time or not).
    best = np.asarray(frr["scores"])
    points = []
    for threshold in sorted({round(detector.threshold, 3), 0.8, 0.9, 0.95, 0.98, 0.99, 0.995}):
        accepts = len(count_detections(scores, threshold, hop_s=detector.hop_s, refractory_s=1.0))
        near = len(count_detections(miss_scores, threshold, hop_s=detector.hop_s, refractory_s=1.0))
        points.append(
            [
                f"{threshold:.3f}",
                f"{np.mean(best < threshold):.3f}",
                f"{accepts * 3600 / duration_s:.2f}",
                f"{near * 3600 / miss_s:.1f}",
            ]
        )
    print("\nOther thresholds on the same held-out audio:")
    harness.print_table(("threshold", "FRR", "FA/h speech + noise", "FA/h near misses"), points, text_columns=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
