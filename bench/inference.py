"""Inference CPU: the windowed and the streaming form of a model against pymicro-wakeword, live, one thread each.

Every model runs in this one process over the same audio (generated: quiet noise with tone bursts; the cost does
not depend on what is said), fed as a live stream would feed it:
- windowed fp32 / int8: model.onnx / model.int8.onnx, one whole window scored every 100 ms (today's detector);
- streaming fp32 / int8: model.streaming.onnx / .int8.onnx, each new chunk with the states of the last call
  (every 30-ms step scored once, one call per chunk of the graph's contract);
- pymicro-wakeword's hey_jarvis (the `bench` extra; Apache-2.0): its micro-frontend features every 10 ms and
  its int8 TFLite model every 30 ms, as Home Assistant's Wyoming microWakeWord server runs it.

A row gives CPU-seconds per second of audio (lower is better) and the ratio to pymicro-wakeword's. Without
--model, the models are the worker's networks of --preset, freshly initialised and exported the way a job exports
them (untrained weights cost the same to run as trained ones): the streaming network, and today's windowed one for
the windowed rows. With --model (a streaming export folder), every row but the reference runs that model.

    .venv/bin/python bench/inference.py [--minutes 10] [--preset small] [--model EXPORT_DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from edge_cpu import generated_audio

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

RATE = 16_000
WINDOWED_HOP = 1_600


def export_untrained(preset: str, architecture: str, folder: Path) -> Path:
    """The worker's network of a preset and architecture, initialised with a fixed seed and exported as a job would."""
    import torch

    from shared.training_config import TrainingConfig
    from worker.training.export import export_model
    from worker.training.model import build_model

    torch.manual_seed(0)
    torch.set_num_threads(1)
    check = (0.1 * np.random.default_rng(0).standard_normal((12, RATE))).astype(np.float32)
    export_model(
        build_model(preset, architecture).eval(),
        TrainingConfig(preset=preset, architecture=architecture),
        folder,
        check,
    )
    return folder


def session(path: Path):
    """An onnxruntime CPU session on one thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def windowed_live(path: Path, audio: np.ndarray) -> Callable[[], int]:
    """One window per 100-ms hop, the latest audio slid in, as the edge runtime's live detector does."""
    runner = session(path)
    name = runner.get_inputs()[0].name
    window = int(runner.get_inputs()[0].shape[1]) if isinstance(runner.get_inputs()[0].shape[1], int) else RATE

    def run() -> int:
        buffer = np.zeros((1, window), dtype=np.float32)
        steps = 0
        for start in range(0, audio.size - WINDOWED_HOP + 1, WINDOWED_HOP):
            buffer = np.concatenate([buffer[:, WINDOWED_HOP:], audio[None, start : start + WINDOWED_HOP]], axis=1)
            runner.run(None, {name: buffer})
            steps += 1
        return steps

    return run


def streaming_live(export_dir: Path, onnx: str, audio: np.ndarray) -> Callable[[], int]:
    """Each chunk of the contract's size with the last call's states, as a live stream arrives."""
    from worker.training.stream_runtime import StreamScorer, streaming_contract

    contract = streaming_contract(export_dir)
    if contract is None:
        raise SystemExit(f"{export_dir} has no streaming model (config.json `streaming`)")
    scorer = StreamScorer(export_dir, contract, threads=1, onnx=onnx)

    def run() -> int:
        scorer.reset()
        steps = 0
        for start in range(0, audio.size - scorer.chunk_samples + 1, scorer.chunk_samples):
            steps += scorer.feed(audio[start : start + scorer.chunk_samples]).size
        return steps

    return run


def pymicro_live(audio: np.ndarray) -> Callable[[], int]:
    """pymicro-wakeword's hey_jarvis: 16-bit PCM in 30-ms pieces through its features and its streaming model."""
    try:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model
    except ImportError:
        raise SystemExit("pymicro-wakeword is not installed: .venv/bin/pip install -e '.[bench]'") from None
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    piece = 2 * 480

    def run() -> int:
        model = MicroWakeWord.from_builtin(Model.HEY_JARVIS)
        features = MicroWakeWordFeatures()
        steps = 0
        for start in range(0, len(pcm), piece):
            for frame in features.process_streaming(pcm[start : start + piece]):
                model.process_streaming(frame)
                steps += 1
        model.close()
        return steps

    return run


def least_cpu(runs: list[Callable[[], int]], repeat: int) -> list[float]:
    """Each run's least CPU seconds of this process over `repeat` rounds, after one untimed warm-up call each.

    The rounds take every run in turn, so that a slow spell of a shared machine falls on all of them alike.
    """
    for run in runs:
        run()
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for index, run in enumerate(runs):
            start = time.process_time()
            run()
            best[index] = min(best[index], time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of generated audio (default 10)")
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--model", type=Path, help="a streaming export folder instead of fresh untrained ones")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; a row has the least (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    audio = generated_audio(args.minutes, args.seed)
    seconds = audio.size / RATE
    with tempfile.TemporaryDirectory() as scratch:
        if args.model:
            streaming_dir = windowed_dir = args.model
            label = args.model.name
        else:
            streaming_dir = export_untrained(args.preset, "streaming", Path(scratch) / "streaming")
            windowed_dir = export_untrained(args.preset, "windowed", Path(scratch) / "windowed")
            label = args.preset
        contract = json.loads((streaming_dir / "config.json").read_text()).get("streaming") or {}
        chunk_ms = 1000 * contract.get("chunk_samples", 0) / RATE
        runs = [
            (f"{label} windowed fp32 (1 window per 100 ms)", windowed_live(windowed_dir / "model.onnx", audio)),
            (f"{label} windowed int8 (1 window per 100 ms)", windowed_live(windowed_dir / "model.int8.onnx", audio)),
            (
                f"{label} streaming fp32 ({chunk_ms:g} ms a call)",
                streaming_live(streaming_dir, "model.streaming.onnx", audio),
            ),
            (
                f"{label} streaming int8 ({chunk_ms:g} ms a call)",
                streaming_live(streaming_dir, "model.streaming.int8.onnx", audio),
            ),
            ("pymicro-wakeword hey_jarvis (reference)", pymicro_live(audio)),
        ]
        cpu = least_cpu([run for _, run in runs], max(1, args.repeat))
        rows = [(name, seconds_cpu / seconds) for (name, _), seconds_cpu in zip(runs, cpu, strict=True)]
        sizes = {
            name: (streaming_dir if "streaming" in name else windowed_dir) / name
            for name in ("model.onnx", "model.int8.onnx", "model.streaming.onnx", "model.streaming.int8.onnx")
        }
        size_text = ", ".join(f"{name} {path.stat().st_size / 1024:.0f} KiB" for name, path in sizes.items())

    reference = rows[-1][1]
    print(f"\n{seconds:.0f} s of audio, onnxruntime and TFLite on 1 thread, the least CPU of {args.repeat} runs each")
    print(f"files: {size_text}\n")
    print(f"| {'model':<52} | CPU-s per s of audio | vs pymicro-wakeword |")
    print(f"| {'-' * 52} | -------------------: | ------------------: |")
    for name, cpu in rows:
        print(f"| {name:<52} | {cpu:20.5f} | {cpu / reference:18.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
