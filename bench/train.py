"""Training benchmark: time to a model, step-time shares, model sizes and ONNX CPU cost per second of audio."""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import harness
import numpy as np
import onnxruntime as ort
import torch

from shared.audio import normalize_clip
from shared.settings import Settings
from shared.training_config import MODEL_SIZES, TrainingConfig
from worker.synthesis import synthesize_set, to_wav_bytes
from worker.training.batches import BackgroundStream, BatchMaker
from worker.training.data import BalancedSampler, label_value, load_audio, split_clips
from worker.training.draws import make_generator
from worker.training.export import ONNX, ONNX_INT8, export_model
from worker.training.features import SAMPLE_RATE, LogMel
from worker.training.model import WakeWordModel, parameter_count
from worker.training.objective import warmup_cosine, weighted_loss
from worker.training.rooms import ReverbConfig, load_or_build_rir_bank
from worker.training.trainer import TrainingClip, _augmenter, train

DEFAULTS = TrainingConfig()
"""A job's config when the user overrides nothing: what "time to a model" means unless flags say otherwise."""
POSITIVE_SHARE, NOISE_SHARE = 0.5, 0.1
"""Of each set: half positives, a tenth noise, the rest (40%) near-miss and ordinary-speech negatives."""
HOP_S = 0.1
"""The deployed detector scores a window every hop: one second of audio is 1 / HOP_S window inferences."""
DATA_SHARE_GOAL = 0.25
AUDIO_MS_GOAL = 5.0
GPU_SAMPLE_S = 0.05


@dataclass
class BenchSettings:
    """What every part of the bench runs with, after --quick has shrunk the defaults."""

    sizes: list[int]
    threads: int
    phrase: str
    preset: str
    epochs: int
    steps_per_epoch: int
    batch_size: int
    profile_warmup: int
    profile_steps: int
    presets: list[str]
    onnx_warmup: int
    onnx_repetitions: int
    seed: int
    quick: bool


@dataclass
class TimingHooks:
    """Trainer hooks that keep the log and note when the training loop starts and each epoch ends."""

    messages: list[tuple[str, str]] = field(default_factory=list)
    loop_started: float | None = None
    epoch_ends: list[float] = field(default_factory=list)

    def progress(
        self, *, epoch: int, epochs: int, step: int, total_steps: int, loss: float, metrics: dict[str, float]
    ) -> None:
        self.epoch_ends.append(time.perf_counter())

    def log(self, message: str, level: str = "info") -> None:
        self.messages.append((level, message))

    def should_stop(self) -> bool:
        if self.loop_started is None:
            self.loop_started = time.perf_counter()
        return False


@dataclass
class TrainRun:
    """The figures of one train() call."""

    clips: int
    config: TrainingConfig
    synth_s: float
    store_s: float
    total_s: float
    setup_s: float
    loop_s: float
    after_s: float
    metrics: dict[str, float]
    export_dir: Path

    @property
    def negative_audio_s(self) -> float:
        """Seconds of validation negatives the FA/h was measured over (from the run's metrics.json)."""
        report = json.loads((self.export_dir / "metrics.json").read_text())
        return float(report.get("negative_audio_s", math.nan))

    @property
    def epoch_s(self) -> float:
        return self.loop_s / self.config.epochs

    def cells(self) -> list[str]:
        m = self.metrics
        return [
            str(self.clips),
            f"{self.config.epochs}x{self.config.steps_per_epoch}x{self.config.batch_size}",
            f"{self.synth_s:.1f}",
            f"{self.total_s:.1f}",
            f"{self.setup_s:.1f}",
            f"{self.epoch_s:.2f}",
            f"{self.after_s:.1f}",
            f"{m.get('val_frr', math.nan):.3f}",
            f"{m.get('val_fa_per_hour', math.nan):.2f}",
            f"{m.get('threshold', math.nan):.3f}",
            f"{m.get('val_roc_auc', math.nan):.3f}",
            f"{m.get('val_accuracy', math.nan):.3f}",
            f"{self.negative_audio_s:.0f}",
            f"{int(m['parameters'])}",
            f"{100 * m.get('data_wait_share', math.nan):.0f}%",
        ]


def clip_counts(size: int) -> tuple[int, int, int]:
    """(positives, negatives, noise) for a set of `size` clips."""
    positives = round(size * POSITIVE_SHARE)
    noise = round(size * NOISE_SHARE)
    return positives, size - positives - noise, noise


def make_dataset(phrase: str, size: int, seed: int, folder: Path) -> tuple[list[TrainingClip], float, float]:
    """Synthesize `size` clips and store them as the service would; returns the clips and both timings in seconds."""
    positives, negatives, noise = clip_counts(size)
    started = time.perf_counter()
    synth = synthesize_set(phrase, positives=positives, negatives=negatives, noise=noise, seed=seed)
    synth_s = time.perf_counter() - started
    limits = Settings.model_fields
    min_s, max_s = limits["min_clip_seconds"].default, limits["max_clip_seconds"].default
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    clips = []
    for i, clip in enumerate(synth):
        stored = normalize_clip(to_wav_bytes(clip.audio), min_seconds=min_s, max_seconds=max_s)
        path = folder / f"{i:05d}-{clip.label}.wav"
        path.write_bytes(stored.wav_bytes)
        clips.append(TrainingClip(clip_id=f"clip-{i}", path=path, label=clip.label, speaker=clip.speaker))
    return clips, synth_s, time.perf_counter() - started


def config_for(settings: BenchSettings, size: int) -> TrainingConfig:
    """The quick-job config, its steps per epoch scaled to the set's size."""
    return TrainingConfig(
        preset=settings.preset,
        epochs=settings.epochs,
        steps_per_epoch=settings.steps_per_epoch,
        batch_size=settings.batch_size,
        seed=settings.seed,
    )


def time_training(
    clips: list[TrainingClip], config: TrainingConfig, export_dir: Path, cache_dir: Path, device: str
) -> tuple[float, float, float, float, dict[str, float]]:
    """train() end to end: (total, setup before the first step, loop, evaluation+export after) seconds, metrics."""
    hooks = TimingHooks()
    started = time.perf_counter()
    result = train(clips, config, export_dir, hooks, device=device, cache_dir=cache_dir)
    ended = time.perf_counter()
    loop_start = hooks.loop_started or started
    loop_end = hooks.epoch_ends[-1] if hooks.epoch_ends else ended
    return ended - started, loop_start - started, loop_end - loop_start, ended - loop_end, result.metrics


def bench_time_to_model(
    settings: BenchSettings, root: Path, cache_dir: Path
) -> tuple[list[TrainRun], list[list[TrainingClip]]]:
    print("\n## 1. Time to a model (CPU)")
    runs, datasets = [], []
    for size in settings.sizes:
        clips, synth_s, store_s = make_dataset(settings.phrase, size, settings.seed, root / f"clips-{size}")
        config = config_for(settings, size)
        export_dir = root / f"export-{size}"
        total_s, setup_s, loop_s, after_s, metrics = time_training(clips, config, export_dir, cache_dir, "cpu")
        run = TrainRun(size, config, synth_s, store_s, total_s, setup_s, loop_s, after_s, metrics, export_dir)
        m = metrics
        print(
            f"clips={size} preset={config.preset} epochs={config.epochs} steps/epoch={config.steps_per_epoch} "
            f"batch={config.batch_size}: synth {synth_s:.1f}s, store {store_s:.1f}s; train() {total_s:.1f}s "
            f"(setup {setup_s:.1f}s, loop {loop_s:.1f}s = {run.epoch_s:.2f}s/epoch, eval+export {after_s:.1f}s); "
            f"val_frr={m.get('val_frr', math.nan):.3f} val_fa_per_hour={m.get('val_fa_per_hour', math.nan):.2f} "
            f"threshold={m.get('threshold', math.nan):.3f} val_roc_auc={m.get('val_roc_auc', math.nan):.3f} "
            f"val_accuracy={m.get('val_accuracy', math.nan):.3f} parameters={int(m['parameters'])} "
            f"val_clips={int(m['val_clips'])} val_negative_audio_s={run.negative_audio_s:.0f}",
            flush=True,
        )
        runs.append(run)
        datasets.append(clips)
    columns = (
        "clips",
        "epochs x steps x batch",
        "synth s",
        "train() s",
        "setup s",
        "epoch s",
        "eval+export s",
        "val_frr",
        "val FA/h",
        "threshold",
        "val AUC",
        "val acc@0.5",
        "val neg audio s",
        "parameters",
        "loop waiting on data",
    )
    harness.print_table(columns, (run.cells() for run in runs), text_columns=0)
    for run in runs:
        share = run.metrics.get("data_wait_share", math.nan)
        verdict = "meets" if share <= DATA_SHARE_GOAL else "misses"
        print(
            f"clips={run.clips}: the training loop waited for batches {100 * share:.0f}% of its step time (batches "
            f"made ahead on a thread; goal <= {100 * DATA_SHARE_GOAL:.0f}%: {verdict})"
        )
    return runs, datasets


@dataclass
class StepProfile:
    """Milliseconds per training step of each part, one list entry per timed step."""

    parts: dict[str, list[float]]

    def mean(self, part: str) -> float:
        return float(np.mean(self.parts[part]))

    @property
    def total_ms(self) -> float:
        return sum(self.mean(part) for part in self.parts)

    @property
    def data_share(self) -> float:
        data = self.mean("batch") + self.mean("augment") + self.mean("specaugment")
        return data / self.total_ms if self.total_ms > 0 else math.nan


def profile_steps(
    clips: list[TrainingClip],
    config: TrainingConfig,
    cache_dir: Path,
    device: torch.device,
    *,
    warmup: int,
    steps: int,
    on_timed_start: Callable[[], None] | None = None,
) -> StepProfile:
    """The trainer's step, part by part, timed over `steps` steps after `warmup` untimed ones."""
    rng = np.random.default_rng(config.seed)
    window = round(config.window_s * SAMPLE_RATE)
    labels = np.array([label_value(clip.label) for clip in clips], dtype=np.int64)
    split = split_clips(labels, [clip.speaker for clip in clips], rng)
    sampler = BalancedSampler(split.train, labels, config.batch_size, rng)
    audio = [load_audio(clip.path) for clip in clips]
    torch.manual_seed(config.seed)
    model = WakeWordModel(config.preset).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup + steps, config.warmup_fraction))
    augmenter = _augmenter(config, window, audio, labels, split.train, cache_dir, device)
    if augmenter is None:
        raise ValueError("the profile needs a config with augment on")
    background = BackgroundStream([audio[i] for i in split.train if labels[i] == 0], rng)
    # The trainer's batch maker without its augmenter, so that drawing and augmenting are timed apart.
    maker = BatchMaker(
        audio, labels, sampler, window, rng, seed=config.seed, device=device, augmenter=None, background=background
    )
    generator = make_generator(config.seed, device)
    sync: Callable[[], None] = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    parts: dict[str, list[float]] = {name: [] for name in ("batch", "augment", "log-mel", "specaugment", "model")}
    model.train()
    for step in range(warmup + steps):
        if step == warmup and on_timed_start is not None:
            on_timed_start()
        marks = [time.perf_counter()]
        batch = maker.make()
        x, y = batch.audio, batch.labels
        sync()
        marks.append(time.perf_counter())
        with torch.no_grad():
            x = augmenter(x, batch.positives.astype(np.int64), generator)
            sync()
            marks.append(time.perf_counter())
            features = model.features(x)
            sync()
            marks.append(time.perf_counter())
            features = augmenter.mask_features(features, generator)
            sync()
            marks.append(time.perf_counter())
        loss = weighted_loss(model.net(features), y, config.hard_negative_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        loss.item()
        sync()
        marks.append(time.perf_counter())
        if step >= warmup:
            for name, start, end in zip(parts, marks[:-1], marks[1:], strict=True):
                parts[name].append((end - start) * 1000)
    return StepProfile(parts)


def bench_step_shares(settings: BenchSettings, clips: list[TrainingClip], cache_dir: Path) -> StepProfile:
    config = config_for(settings, len(clips))
    print(
        f"\n## 2. Step time by part (CPU, {settings.threads} thread(s), preset {config.preset}, batch "
        f"{config.batch_size}, {len(clips)} clips, {settings.profile_steps} steps after {settings.profile_warmup} "
        "warm-up)"
    )
    profile = profile_steps(
        clips,
        config,
        cache_dir,
        torch.device("cpu"),
        warmup=settings.profile_warmup,
        steps=settings.profile_steps,
    )
    report_profile(profile)
    return profile


def report_profile(profile: StepProfile) -> None:
    """The parts' ms per step and the data+augmentation share, as lines and a table."""
    descriptions = {
        "batch": "draw + stack_windows (data)",
        "augment": "Augmenter forward (augmentation)",
        "log-mel": "model.features (model front end)",
        "specaugment": "mask_features (augmentation)",
        "model": "net forward + backward + AdamW step (model)",
    }
    total = profile.total_ms
    rows = []
    for name, description in descriptions.items():
        mean = profile.mean(name)
        p50 = harness.percentile(profile.parts[name], 50)
        rows.append([description, f"{mean:.1f}", f"{p50:.1f}", f"{100 * mean / total:.0f}%"])
    rows.append(["step total", f"{total:.1f}", "", "100%"])
    print(
        f"step {total:.1f} ms made inline: data {profile.mean('batch'):.1f} ms, augmentation "
        f"{profile.mean('augment') + profile.mean('specaugment'):.1f} ms, model "
        f"{profile.mean('log-mel') + profile.mean('model'):.1f} ms; data+augmentation {100 * profile.data_share:.0f}% "
        "of the work (the trainer overlaps it with the model on a thread: see the wait share in section 1)",
        flush=True,
    )
    harness.print_table(("part", "mean ms/step", "p50 ms/step", "share"), rows, text_columns=1)


@dataclass
class Export:
    """One preset's exported files and parameter count."""

    preset: str
    parameters: int
    folder: Path

    @property
    def onnx_bytes(self) -> int:
        return (self.folder / ONNX).stat().st_size

    @property
    def int8_bytes(self) -> int:
        return (self.folder / ONNX_INT8).stat().st_size


def bench_sizes(settings: BenchSettings, root: Path, trained: Sequence[TrainRun]) -> list[Export]:
    print("\n## 3. Model size")
    rng = np.random.default_rng(settings.seed)
    window = SAMPLE_RATE
    check = (0.1 * rng.standard_normal((8, window))).astype(np.float32)
    exports = []
    for preset in settings.presets:
        torch.manual_seed(settings.seed)
        model = WakeWordModel(preset).eval()
        folder = root / f"random-{preset}"
        export_model(model, TrainingConfig(preset=preset), folder, check)
        export = Export(preset, parameter_count(model), folder)
        print(
            f"preset {preset}: {export.parameters} parameters, {ONNX} {export.onnx_bytes} bytes, "
            f"{ONNX_INT8} {export.int8_bytes} bytes (int8/fp32 {export.int8_bytes / export.onnx_bytes:.2f})",
            flush=True,
        )
        exports.append(export)
    rows = [
        [
            e.preset,
            "random weights",
            str(e.parameters),
            f"{e.onnx_bytes / 1024:.0f}",
            f"{e.int8_bytes / 1024:.0f}",
        ]
        for e in exports
    ]
    for run in trained:
        files = Export(run.config.preset, int(run.metrics["parameters"]), run.export_dir)
        rows.append(
            [
                files.preset,
                f"trained on {run.clips} clips",
                str(files.parameters),
                f"{files.onnx_bytes / 1024:.0f}",
                f"{files.int8_bytes / 1024:.0f}",
            ]
        )
    harness.print_table(("preset", "weights", "parameters", "fp32 KiB", "int8 KiB"), rows, text_columns=2)
    constants = sum(buffer.numel() * buffer.element_size() for buffer in LogMel().buffers())
    print(
        f"\nof each file, about {constants} bytes ({constants / 1024:.0f} KiB) are the log-mel front end's fixed DFT "
        "stages and mel filterbank (fp32 constants, no parameters)"
    )
    return exports


def onnx_ms_per_second(path: Path, *, warmup: int, repetitions: int, seed: int) -> list[float]:
    """Milliseconds to score one second of streamed audio (1 / HOP_S windows, batch 1) on one thread, per repetition."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    windows_per_second = round(1 / HOP_S)
    hop = round(HOP_S * SAMPLE_RATE)
    stream = (0.1 * np.random.default_rng(seed).standard_normal(SAMPLE_RATE + windows_per_second * hop)).astype(
        np.float32
    )
    windows = [stream[i * hop : i * hop + SAMPLE_RATE][None, :].copy() for i in range(windows_per_second)]
    for _ in range(warmup):
        session.run(None, {"audio": windows[0]})
    timings = []
    for _ in range(repetitions):
        started = time.perf_counter()
        for window in windows:
            session.run(None, {"audio": window})
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def bench_onnx_cost(settings: BenchSettings, exports: Sequence[Export], trained: Sequence[TrainRun]) -> None:
    print(
        f"\n## 4. ONNX CPU cost of 1 s of audio (1 thread, {round(1 / HOP_S)} windows of 1 s at batch 1, "
        f"{settings.onnx_repetitions} repetitions after {settings.onnx_warmup} warm-up)"
    )
    # Trained weights too: the int8 model of an untrained network timed 4.3 ms a second of audio, a trained one 2.7.
    models = [(e.preset, "random weights", e.folder) for e in exports if e.preset in ("tiny", "small")]
    models += [(run.config.preset, f"trained on {run.clips} clips", run.export_dir) for run in trained]
    rows = []
    for preset, weights, folder in models:
        for kind, name in (("fp32", ONNX), ("int8", ONNX_INT8)):
            timings = onnx_ms_per_second(
                folder / name,
                warmup=settings.onnx_warmup,
                repetitions=settings.onnx_repetitions,
                seed=settings.seed,
            )
            p50, p90 = harness.percentile(timings, 50), harness.percentile(timings, 90)
            rtf = p50 / 1000
            verdict = "meets" if p50 <= AUDIO_MS_GOAL else "misses"
            print(
                f"{preset} {kind} ({weights}): {p50:.2f} ms per 1 s of audio (p50; p90 {p90:.2f}), RTF {rtf:.4f} "
                f"(goal <= {AUDIO_MS_GOAL:g} ms, RTF <= {AUDIO_MS_GOAL / 1000:g}: {verdict})",
                flush=True,
            )
            rows.append(
                [preset, weights, kind, f"{p50 / round(1 / HOP_S):.3f}", f"{p50:.2f}", f"{p90:.2f}", f"{rtf:.4f}"]
            )
    harness.print_table(
        ("preset", "weights", "format", "ms/window p50", "ms per 1 s p50", "ms per 1 s p90", "RTF"),
        rows,
        text_columns=3,
    )


class UtilizationSampler(threading.Thread):
    """Samples torch.cuda.utilization() every GPU_SAMPLE_S until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.error: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(GPU_SAMPLE_S):
            try:
                self.samples.append(float(torch.cuda.utilization()))
            except Exception as exc:  # pynvml missing or no NVML: report it rather than fail the bench
                self.error = f"{type(exc).__name__}: {exc}"
                return


def bench_cuda(settings: BenchSettings, clips: list[TrainingClip], root: Path, cache_dir: Path) -> None:
    print("\n## 5. CUDA")
    if not torch.cuda.is_available():
        print("no CUDA: GPU figures skipped")
        return
    print(f"device: {torch.cuda.get_device_name(0)}")
    config = config_for(settings, len(clips))
    device = torch.device("cuda")
    sampler = UtilizationSampler()
    # The warm-up steps pay for CUDA's start-up and kernel selection; the sampler starts with the timed epoch.
    profile = profile_steps(
        clips,
        config,
        cache_dir,
        device,
        warmup=settings.profile_warmup,
        steps=config.steps_per_epoch,
        on_timed_start=sampler.start,
    )
    sampler.done.set()
    sampler.join()
    epoch_s = profile.total_ms * config.steps_per_epoch / 1000
    print(
        f"one epoch of {config.steps_per_epoch} steps (batch {config.batch_size}, {len(clips)} clips) after "
        f"{settings.profile_warmup} warm-up steps: {epoch_s:.2f}s, step {profile.total_ms:.1f} ms"
    )
    report_profile(profile)
    if sampler.samples:
        print(
            f"GPU utilisation during the epoch: mean {np.mean(sampler.samples):.0f}%, max "
            f"{np.max(sampler.samples):.0f}% ({len(sampler.samples)} samples)"
        )
    else:
        print(f"GPU utilisation unavailable: {sampler.error or 'no samples taken'}")
    total_s, setup_s, loop_s, after_s, metrics = time_training(clips, config, root / "export-cuda", cache_dir, "cuda")
    print(
        f"train() on CUDA, {len(clips)} clips: {total_s:.1f}s (setup {setup_s:.1f}s, loop {loop_s:.1f}s = "
        f"{loop_s / config.epochs:.2f}s/epoch, eval+export {after_s:.1f}s); "
        f"val_frr={metrics.get('val_frr', math.nan):.3f} val_fa_per_hour="
        f"{metrics.get('val_fa_per_hour', math.nan):.2f}"
    )


def resolve(args: argparse.Namespace) -> BenchSettings:
    """The run's settings: the flags, with --quick shrinking whatever was not given."""
    quick = args.quick

    def pick(value: int | None, normal: int, small: int) -> int:
        return value if value is not None else (small if quick else normal)

    return BenchSettings(
        sizes=args.sizes or ([40] if quick else [40, 400]),
        threads=args.threads,
        phrase=args.phrase,
        preset=args.preset or ("tiny" if quick else "small"),
        epochs=pick(args.epochs, DEFAULTS.epochs, 2),
        steps_per_epoch=pick(args.steps_per_epoch, DEFAULTS.steps_per_epoch, 10),
        batch_size=pick(args.batch_size, DEFAULTS.batch_size, 16),
        profile_warmup=pick(None, 5, 2),
        profile_steps=pick(args.profile_steps, 50, 10),
        presets=["tiny", "small"] if quick else list(MODEL_SIZES),
        onnx_warmup=pick(None, 20, 5),
        onnx_repetitions=pick(args.repetitions, 200, 30),
        seed=args.seed,
        quick=quick,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes",
        type=harness.positive_int_list("sizes"),
        help="clip counts to train on, a comma list (default 40,400; 40 with --quick)",
    )
    parser.add_argument(
        "--threads", type=harness.positive_int, default=1, help="torch.set_num_threads for training (default 1)"
    )
    parser.add_argument("--phrase", default="hey jarvis", help="wake phrase to synthesize (default 'hey jarvis')")
    parser.add_argument("--preset", choices=MODEL_SIZES, help="model size to train (default small; tiny with --quick)")
    parser.add_argument(
        "--epochs", type=harness.positive_int, help=f"epochs per job (default {DEFAULTS.epochs}; 2 with --quick)"
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=harness.positive_int,
        help=f"steps per epoch (default {DEFAULTS.steps_per_epoch}, a job's default; 10 with --quick)",
    )
    parser.add_argument(
        "--batch-size", type=harness.positive_int, help=f"batch size (default {DEFAULTS.batch_size}; 16 with --quick)"
    )
    parser.add_argument(
        "--profile-steps",
        type=harness.positive_int,
        help="timed steps of the step profile (default 50; 10 with --quick)",
    )
    parser.add_argument(
        "--repetitions", type=harness.positive_int, help="timed ONNX repetitions (default 200; 30 with --quick)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic sets and the training (default 0)")
    parser.add_argument("--quick", action="store_true", help="smaller everything: a smoke run of under a minute")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    settings = resolve(parse_args(argv))
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # each figure as soon as it is measured, also through a pipe
    torch.set_num_threads(settings.threads)
    print(
        f"torch {torch.__version__}, onnxruntime {ort.__version__}, {torch.get_num_threads()} torch thread(s), "
        f"phrase {settings.phrase!r}, sizes {','.join(map(str, settings.sizes))}"
        + (" (--quick)" if settings.quick else "")
    )
    with tempfile.TemporaryDirectory(prefix="wake-training-bench-train-") as tmp:
        root = Path(tmp)
        cache_dir = root / "cache"
        # Workers keep the reverb bank in their cache after the first job; build it once outside the timings.
        started = time.perf_counter()
        load_or_build_rir_bank(cache_dir, ReverbConfig())
        print(f"reverb bank built once into the cache in {time.perf_counter() - started:.1f}s (not in the timings)")
        runs, datasets = bench_time_to_model(settings, root, cache_dir)
        largest = max(datasets, key=len)
        bench_step_shares(settings, largest, cache_dir)
        exports = bench_sizes(settings, root, runs)
        bench_onnx_cost(settings, exports, runs)
        bench_cuda(settings, largest, root, cache_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
