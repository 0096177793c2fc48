"""Held-out accuracy: train "hey jarvis" the way a new user would, then score it on the dev benchmark.

The dev benchmark (../shared/devbench, built into $WT_DEVBENCH) has positives from 7 voices of 3 engines that
training never uses (hibari, RHVoice, MBROLA), with reverb and background, and 1.6 h of negative streams: near
misses ("hey travis"), sentences, recordings of people, music and noise. Never train on any of it.

Without --model: starts the product embedded in this process (SQLite, in-process worker), synthesizes a dataset
with `POST /datasets/{name}/synthesize` (product defaults but --count) and trains it with `POST /train` (product
defaults unless --overrides). Then scores the exported model.onnx at the threshold in its metrics.json with the
benchmark's score.py, and prints the figures next to two pretrained detectors' and the accuracy targets.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import harness
import recall_breakdown

REPO = Path(__file__).resolve().parents[1]
PHRASE = "hey jarvis"
DATASET = "hey-jarvis"
SYNTH_TIMEOUT_S = 1800.0
TRAIN_TIMEOUT_S = 1800.0
FINISHED = {"succeeded", "failed", "cancelled"}

# The pretrained "hey jarvis" detectors of pymicro-wakeword 2.5.0 and pyopen-wakeword 1.1.0, at each library's
# default threshold, from ../shared/devbench/README.md "Reference scores" (build 6e41587bbc5c, full set). Reference
# points only: neither is part of the product, and openWakeWord's model is CC BY-NC-SA.
PEERS: dict[str, dict[str, Any]] = {
    "microWakeWord": {
        "build_hash": "6e41587bbc5c",
        "training_s": None,
        "threshold": 0.97,
        "recall": 0.365,
        "fa_per_hour_natural": 0.0,
        "fa_per_hour": 34.74,
        "r05_natural": (0.490, 0.43),
        "r05_all": (0.0, 0.997),
        "r10_natural": (0.521, None),
        "cpu_s_per_s": 0.0025,
    },
    "openWakeWord": {
        "build_hash": "6e41587bbc5c",
        "training_s": None,
        "threshold": 0.5,
        "recall": 0.385,
        "fa_per_hour_natural": 1.71,
        "fa_per_hour": 90.32,
        "r05_natural": (0.354, 0.868),
        "r05_all": (0.0, 0.9996),
        "r10_natural": (0.385, None),
        "cpu_s_per_s": 0.047,
    },
}


def ensure_devbench(root: Path, scripts: Path) -> None:
    """Build the dev benchmark into `root` with build.sh unless its manifest and scoring venv are already there."""
    if (root / "data" / "manifest.json").exists() and (root / "venv" / "bin" / "python").exists():
        return
    if not (scripts / "build.sh").exists():
        raise SystemExit(
            f"dev benchmark scripts not found in {scripts}: check out the shared folder beside the repo "
            "or pass --devbench-scripts DIR"
        )
    print(f"building the dev benchmark into {root} (a few minutes; root the first time, it installs packages)")
    built = subprocess.run(["bash", str(scripts / "build.sh")], env=dict(os.environ, WT_DEVBENCH=str(root)))
    if built.returncode != 0:
        raise SystemExit(f"build.sh failed ({built.returncode}); see its output above and {scripts / 'README.md'}")


def expect(response: Any, status: int) -> dict[str, Any]:
    """The response's JSON body; exit with the API's own answer when its status is not `status`."""
    if response.status_code != status:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return response.json()


def wait(client: Any, job_id: str, timeout: float) -> dict[str, Any]:
    """Poll the job until it finishes, printing its progress now and then; raise if it fails or times out."""
    deadline = time.monotonic() + timeout
    last_print = 0.0
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in FINISHED:
            if job["status"] != "succeeded":
                raise SystemExit(f"{job['kind']} job {job_id} {job['status']}: {job['error']}")
            return job
        if time.monotonic() - last_print > 30:
            p = job["progress"]
            print(f"  {job['kind']}: {job['status']}, step {p.get('step', 0)} of {p.get('total_steps', '?')}")
            last_print = time.monotonic()
        time.sleep(1.0)
    raise SystemExit(f"job {job_id} still not finished after {timeout:.0f} s")


@contextlib.contextmanager
def embedded_product(data_dir: Path, *, threads: int, piper_voices: Path | None = None) -> Iterator[Any]:
    """The product embedded in this process (SQLite, in-process worker) on `data_dir`, as a test client."""
    # Imported here so that --model runs need only the bench's own dependencies.
    from litestar.testing import TestClient

    import migrations
    from api.app import create_app
    from shared.settings import Settings

    settings = Settings(data_dir=data_dir, worker_threads=threads, piper_voices_dir=piper_voices)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.resolved_database_url)
    app = create_app(settings)
    # Litestar's default logging config puts the root logger at INFO: a line per poll would bury the progress.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with TestClient(app=app) as client:
        yield client


def synthesize_dataset(client: Any, name: str, *, count: int, seed: int) -> dict[str, int]:
    """Create the dataset and synthesize it with the product's defaults but `count`; its clip counts."""
    expect(client.post("/datasets", json={"name": name, "wake_phrase": PHRASE}), 201)
    started = time.monotonic()
    synthesize = {"phrase": PHRASE, "count": count, "seed": seed}
    wait(client, expect(client.post(f"/datasets/{name}/synthesize", json=synthesize), 202)["id"], SYNTH_TIMEOUT_S)
    counts = client.get(f"/datasets/{name}").json()["clip_counts"]
    print(f"synthesized {counts} in {time.monotonic() - started:.0f} s")
    return counts


def train_job(client: Any, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """POST /train with `body` and wait for it; the finished job and its seconds from start to finish."""
    started = time.monotonic()
    job = wait(client, expect(client.post("/train", json=body), 202)["id"], TRAIN_TIMEOUT_S)
    elapsed = time.monotonic() - started
    if job["started_at"] and job["finished_at"]:
        elapsed = (
            datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
        ).total_seconds()
    return job, elapsed


def train_body(dataset: str, overrides: str | None, seed: int) -> dict[str, Any]:
    """The POST /train body: product defaults unless `overrides` (JSON), and the seed when not 0."""
    body: dict[str, Any] = {"dataset": dataset}
    config = {} if overrides is None else json.loads(overrides)
    if seed:
        config.setdefault("seed", seed)
    if config:
        body["config_overrides"] = config
    return body


def export_dir(data_dir: Path, job: dict[str, Any]) -> Path:
    """A finished train job's export folder on the embedded product's data volume."""
    return data_dir / "jobs" / job["id"] / "export"


def train_like_a_user(args: argparse.Namespace, data_dir: Path) -> tuple[Path, float]:
    """Synthesize and train through the embedded product's API; the export folder and the training job's seconds."""
    with embedded_product(data_dir, threads=args.threads, piper_voices=args.piper_voices) as client:
        synthesize_dataset(client, DATASET, count=args.count, seed=args.seed)
        job, elapsed = train_job(client, train_body(DATASET, args.overrides, args.seed))
    export = export_dir(data_dir, job)
    if args.save:
        shutil.copytree(export, args.save, dirs_exist_ok=True)
        print(f"export copied to {args.save}")
    return export, elapsed


def streaming_form(export: Path) -> dict[str, Any] | None:
    """The export's streaming contract (config.json), or None for a windowed export."""
    from worker.training.stream_runtime import streaming_contract

    return streaming_contract(export)


def device_hop_s(contract: dict[str, Any] | None) -> float:
    """The hop the product's detector scores an export at: each 30-ms step of a streaming graph, else 0.1 s."""
    return contract["step_samples"] / contract["sample_rate"] if contract else 0.1


def score(
    model: Path, root: Path, scripts: Path, quick: bool, hop_s: float | None = None, threshold: float | None = None
) -> dict[str, Any]:
    """score.py's JSON for the model every `hop_s` (by default the hop the product's detector runs its export at),
    run with the benchmark's own venv, at `threshold` (by default the one in the model's metrics.json)."""
    if hop_s is None:
        hop_s = device_hop_s(streaming_form(model.parent))
    args = ["--onnx", str(model), "--data", str(root / "data"), *(["--quick"] if quick else [])]
    args += ["--hop-s", f"{hop_s:g}", *(["--threshold", repr(threshold)] if threshold is not None else [])]
    return harness.devbench_json(root, scripts / "score.py", args, "score.py")


def streaming_cpu(export: Path, contract: dict[str, Any] | None) -> float | None:
    """CPU-s per second of audio of the export's streaming graph as a device runs it (one thread, a chunk a call,
    least of 3 rounds over 2 minutes, as bench/inference.py measures), or None for a windowed export."""
    if contract is None:
        return None
    from edge_cpu import generated_audio
    from inference import least_cpu, streaming_live

    audio = generated_audio(2.0, seed=0)
    (cpu,) = least_cpu([streaming_live(export, contract["onnx"], audio)], 3)
    return cpu / (audio.size / contract["sample_rate"])


def pct(value: float | None) -> str:
    """A share as a percentage, or a dash."""
    return "-" if value is None else f"{100 * value:.1f}%"


def at(point: tuple[float, float | None]) -> str:
    """A recall and the threshold it was reached at."""
    recall, threshold = point
    return pct(recall) + ("" if threshold is None else f" @ {threshold:.4g}")


def summary(s: dict[str, Any], training_s: float | None, device_cpu: float | None) -> dict[str, Any]:
    """The figures the report and the targets use, in the peers' shape; the CPU is the streaming graph's when
    there is one (`device_cpu`), else score.py's for the windowed graph slid at its hop."""
    r = s["r_at_fa_per_hour"]
    pick = {
        k: (r[w][t]["recall"], r[w][t]["threshold"])
        for k, w, t in [("r05_natural", "natural", "0.5"), ("r05_all", "all", "0.5"), ("r10_natural", "natural", "1.0")]
    }
    same = {k: s[k] for k in ("build_hash", "quick", "threshold", "recall", "fa_per_hour_natural", "fa_per_hour")}
    cpu = device_cpu if device_cpu is not None else s["cpu"]["stream_cpu_s_per_s_at_hop"]
    return {**same, "training_s": training_s, **pick, "cpu_s_per_s": cpu}


def targets(m: dict[str, Any]) -> dict[str, bool]:
    """The accuracy targets, each met or not."""
    return {
        "R@FA/h<=0.5, natural negatives >= 80%": m["r05_natural"][0] >= 0.80,
        "R@FA/h<=0.5, all negatives (near misses included) >= 50%": m["r05_all"][0] >= 0.50,
        "recall >= 75% at the product threshold with natural FA/h <= 1.0": m["recall"] >= 0.75
        and m["fa_per_hour_natural"] <= 1.0,
    }


def report(m: dict[str, Any], s: dict[str, Any], clips: list[dict[str, Any]]) -> None:
    """Print the figures next to the peers', then recall by voice and where it goes, FA/h by category and the
    targets."""
    lines: list[tuple[str, str, Callable[[Any], str]]] = [
        ("dev benchmark build", "build_hash", lambda v: v[:12]),
        ("training time (s)", "training_s", lambda v: "-" if v is None else f"{v:.0f}"),
        ("threshold (product's; peers: library default)", "threshold", "{:.4g}".format),
        ("recall at threshold", "recall", pct),
        ("FA/h at threshold, natural negatives", "fa_per_hour_natural", "{:.2f}".format),
        ("FA/h at threshold, all negatives (near misses too)", "fa_per_hour", "{:.2f}".format),
        ("R@FA/h<=0.5, natural (threshold)", "r05_natural", at),
        ("R@FA/h<=0.5, all (threshold)", "r05_all", at),
        ("R@FA/h<=1.0, natural (threshold)", "r10_natural", at),
        ("CPU-s per second of audio, as a device runs it", "cpu_s_per_s", "{:.4f}".format),
    ]
    rows = [[label, show(m[key]), *(show(p[key]) for p in PEERS.values())] for label, key, show in lines]
    quick = "  QUICK subset: one false accept is 7.5 FA/h, do not compare" if m["quick"] else ""
    print(
        f"\ndev benchmark: {s['n_test_positives']} positives, "
        f"{s['negative_hours']:.2f} h of negatives ({s['negative_hours_natural']:.2f} h natural){quick}"
    )
    harness.print_table(["measure", "this model", *(f"{n} (reference)" for n in PEERS)], rows, text_columns=1)
    voices = [[v, str(r["n"]), pct(r["recall_at_threshold"])] for v, r in s["recall_by_voice"].items()]
    harness.print_table(["voice", "clips", "recall at threshold"], voices, text_columns=1)
    rows = recall_breakdown.table(clips, m["threshold"], m["r05_natural"][1])
    harness.print_table(recall_breakdown.COLUMNS, rows, text_columns=2)
    cats = s["fa_per_hour_by_category"]
    rows = [[c, f"{r['hours']:.2f}", str(r["false_accepts"]), f"{r['fa_per_hour']:.2f}"] for c, r in cats.items()]
    harness.print_table(["negatives", "hours", "false accepts", "FA/h at threshold"], rows, text_columns=1)
    print("\ntargets:")
    for name, met in targets(m).items():
        print(f"  {'met    ' if met else 'not met'}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="score this export folder (model.onnx, metrics.json); no training")
    parser.add_argument("--count", type=harness.positive_int, default=400, help="positives to synthesize")
    parser.add_argument("--overrides", help="JSON config_overrides for POST /train (default: none, product defaults)")
    parser.add_argument(
        "--piper-voices",
        type=Path,
        help="folder of Piper voice files the synthesis also speaks with (default: none, espeak-ng and Pico only)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the synthesized set and of training (runs differ by ~10 points: compare several)",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="the worker's torch threads (default 0: the product's, cores - 1)"
    )
    parser.add_argument("--save", type=Path, help="copy the trained model's export folder here")
    parser.add_argument("--quick", action="store_true", help="score.py --quick: a smoke test, not a comparison")
    parser.add_argument("--json", type=Path, help="write every figure, with score.py's whole JSON, here")
    parser.add_argument(
        "--devbench-scripts", type=Path, default=REPO.parent / "shared" / "devbench", help="build.sh and score.py"
    )
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    if args.model and not (args.model / "model.onnx").exists():
        raise SystemExit(f"{args.model / 'model.onnx'} not found: --model takes an export folder")
    root = Path(os.environ.get("WT_DEVBENCH", "/tmp/wt-devbench"))
    ensure_devbench(root, args.devbench_scripts)
    if not (args.devbench_scripts / "score.py").exists():
        raise SystemExit(f"score.py not found in {args.devbench_scripts}: pass --devbench-scripts DIR")

    with tempfile.TemporaryDirectory(prefix="wake-training-bench-heldout-") as tmp:
        if args.model:
            model, training_s = args.model / "model.onnx", None
        else:
            export, training_s = train_like_a_user(args, Path(tmp) / "volume")
            model = export / "model.onnx"
        contract = streaming_form(model.parent)
        hop = device_hop_s(contract)
        print(f"scoring {model} on the dev benchmark every {hop:g} s{' (quick)' if args.quick else ''}")
        scores = score(model, root, args.devbench_scripts, args.quick, hop)
        device_cpu = streaming_cpu(model.parent, contract)
        clips = recall_breakdown.score_clips(model, root, args.devbench_scripts, args.quick, hop)

    figures = summary(scores, training_s, device_cpu)
    report(figures, scores, clips)
    if args.json:
        out = {**figures, "targets": targets(figures), "threads": args.threads, "peers": PEERS, "score": scores}
        out["clips"] = clips
        args.json.write_text(json.dumps(out, indent=1))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
