"""CPU cost of detection: the edge runtime's detector against the service's worker.detect, one thread each.

Both run the same ONNX model on the same generated audio (noise with tone bursts), with onnxruntime held to one
thread, and the table gives CPU seconds per second of audio (lower is better; 1.0 means one core is busy in real
time). Two ways each: offline over a whole file (256-window batches, as `detect` does) and live, one window per
100 ms hop as audio arrives (the edge runtime's `run --mic` / Wyoming path; for the service, the loop of
`worker.detect.listen` without the microphone).

Without --model, the model is the worker's network of --preset, freshly initialised and exported the way a job
exports it (untrained weights cost the same to run as trained ones). It asserts nothing about time.

    .venv/bin/python bench/edge_cpu.py [--minutes 3] [--preset tiny] [--model model.onnx]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "edge")]  # a checkout without `make install` still runs this

RATE = 16_000
HOP = 1_600


def export_untrained(preset: str, folder: Path) -> Path:
    """The worker's network of a preset, initialised with a fixed seed and exported as a job would."""
    import torch

    from shared.training_config import TrainingConfig
    from worker.training.export import ONNX, export_model
    from worker.training.model import WakeWordModel

    torch.manual_seed(0)
    torch.set_num_threads(1)
    check = (0.1 * np.random.default_rng(0).standard_normal((8, RATE))).astype(np.float32)
    export_model(WakeWordModel(preset).eval(), TrainingConfig(preset=preset), folder, check)
    return folder / ONNX


def generated_audio(minutes: float, seed: int) -> np.ndarray:
    """Quiet noise with a 1 kHz burst every few seconds."""
    rng = np.random.default_rng(seed)
    audio = (0.01 * rng.standard_normal(round(minutes * 60 * RATE))).astype(np.float32)
    t = np.arange(round(0.3 * RATE)) / RATE
    burst = (0.5 * np.sin(2 * np.pi * 1_000 * t)).astype(np.float32)
    for start in range(RATE, audio.size - burst.size, round(7.3 * RATE)):
        audio[start : start + burst.size] += burst
    return audio


def measure(run: Callable[[], int]) -> tuple[float, float, int]:
    """(CPU seconds of this process, wall seconds, detections) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    detections = run()
    return time.process_time() - cpu, time.perf_counter() - wall, detections


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="minutes of generated audio (default 3)")
    parser.add_argument("--preset", default="tiny", choices=["tiny", "small", "base"])
    parser.add_argument("--model", type=Path, help="an exported model.onnx instead of a fresh one")
    parser.add_argument(
        "--threshold", type=float, help="default: the 99.5th percentile of the model's scores on the first minute"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the table has the least CPU (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from wake_edge.detector import Rule, Scorer, StreamDetector
    from wake_edge.model import Model
    from worker.detect import WakeWordDetector

    with tempfile.TemporaryDirectory() as scratch:
        model_path = args.model or export_untrained(args.preset, Path(scratch) / "export")
        audio = generated_audio(args.minutes, args.seed)
        seconds = audio.size / RATE
        service = WakeWordDetector(model_path, threads=1)
        # An untrained model scores everything alike: a threshold in its own tail makes the rule fire now and then.
        threshold = args.threshold
        if threshold is None:
            threshold = float(np.percentile(service.scores(audio[: 60 * RATE]), 99.5))
        service.threshold = threshold
        edge_model = Model(model_path, threads=1)
        scorer = Scorer(edge_model, Rule(threshold))

        def service_offline() -> int:
            return len(service.detect(audio))

        def service_live() -> int:
            # worker.detect.listen's loop, fed from the array instead of sounddevice.
            buffer = np.zeros(service.window_samples, dtype=np.float32)
            gap, last, found = round(service.refractory_s / service.hop_s), -(10**9), 0
            for position, start in enumerate(range(0, audio.size - HOP + 1, HOP)):
                buffer = np.concatenate([buffer[HOP:], audio[start : start + HOP]])
                score = float(service.score_windows(buffer[None, :])[0])
                if score >= service.threshold and position - last >= gap:
                    last, found = position, found + 1
            return found

        def edge_offline() -> int:
            detector = StreamDetector(scorer, max_batch=256)
            return sum(e.kind == "detection" for e in detector.feed(audio) + detector.finish())

        def edge_live() -> int:
            detector = StreamDetector(scorer)
            found = 0
            for start in range(0, audio.size, HOP):
                found += sum(e.kind == "detection" for e in detector.feed(audio[start : start + HOP]))
            return found + sum(e.kind == "detection" for e in detector.finish())

        # One untimed pass each: onnxruntime's first runs allocate and pick kernels.
        service.score_windows(np.zeros((256, service.window_samples), np.float32))
        edge_model.score(np.zeros((1, edge_model.window_samples), np.float32))
        rows = []
        for name, run in [
            ("service worker.detect, offline (batches of 256)", service_offline),
            ("edge wake-edge detect, offline (batches of 256)", edge_offline),
            ("service listen loop, live (1 window per hop)", service_live),
            ("edge StreamDetector, live (1 window per hop)", edge_live),
        ]:
            cpu, wall, found = min(measure(run) for _ in range(max(1, args.repeat)))
            rows.append((name, cpu, wall, found))

    model_name = args.model.name if args.model else f"untrained '{args.preset}' export"
    window_s = edge_model.window_samples / RATE
    print(f"\n{seconds:.0f} s of audio, model {model_name} (window {window_s:g} s), threshold {threshold:.4f}")
    print(f"onnxruntime on 1 thread; the least CPU of {max(1, args.repeat)} runs each\n")
    print(f"| {'detector':<48} | CPU s | wall s | CPU s per audio s | detections |")
    print(f"| {'-' * 48} | ----: | -----: | ----------------: | ---------: |")
    for name, cpu, wall, found in rows:
        print(f"| {name:<48} | {cpu:5.2f} | {wall:6.2f} | {cpu / seconds:17.4f} | {found:10d} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
