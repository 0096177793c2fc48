"""Personalisation on the dev benchmark: does a voice the default model misses get heard after 10 takes of it?

For each of the benchmark's enrollment voices (../shared/devbench: hibari, rhvoice-clb, mbrola-en1), on that voice's
test clips at each model's shipped threshold (the one in its metrics.json), next to FA/h on the natural negatives,
and at the best threshold (the lowest with at most 1 false accept an hour of natural audio):
  (a) the default model (a default synthesized dataset, default training), no enrollment;
  (b) a fresh copy of that dataset plus the voice's 10 enrollment clips (source recording, the voice as speaker),
      trained from scratch with the defaults;
  (c) the same clips, fine-tuned from the default model (`base_job`), and its training time next to (b)'s.
Only the clips the benchmark designates for enrollment (data/enroll/<voice>/) are trained on; nothing else of it.

Runs the product embedded in this process, as bench/heldout.py does (its functions). A full run trains 4 models and
fine-tunes 3, and scores each twice (at its threshold and at the best one): about 50 minutes on 2 cores.
A smoke run: --voices 1 --count 20 --quick
--overrides '{"preset": "tiny", "epochs": 2, "steps_per_epoch": 3, "background_speech_s": 0}'.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import harness
import heldout

PAGE = 500
UPLOAD_BATCH = 50
BEST_AT = "1.0"
"""The false accepts an hour of natural audio at which each model's best threshold is read: the goal's limit."""


def copy_dataset(client: Any, source: str, target: str) -> int:
    """A new dataset `target` holding every clip of `source` with its label, speaker and source; the clip count."""
    heldout.expect(client.post("/datasets", json={"name": target, "wake_phrase": heldout.PHRASE}), 201)
    clips: list[dict[str, Any]] = []
    while len(clips) % PAGE == 0:
        page = client.get(f"/datasets/{source}/recordings", params={"limit": PAGE, "offset": len(clips)}).json()
        clips += page["items"]
        if not page["items"]:
            break
    groups: dict[tuple[str, str | None, str], list[dict[str, Any]]] = defaultdict(list)
    for clip in clips:
        groups[(clip["label"], clip["speaker"], clip["source"])].append(clip)
    for (label, speaker, origin), members in groups.items():
        for start in range(0, len(members), UPLOAD_BATCH):
            files = []
            for clip in members[start : start + UPLOAD_BATCH]:
                audio = client.get(f"/datasets/{source}/recordings/{clip['id']}/audio")
                files.append(("files", (f"{clip['id']}.wav", audio.content, "audio/wav")))
            fields = {"label": label, "source": origin, **({"speaker": speaker} if speaker else {})}
            heldout.expect(client.post(f"/datasets/{target}/recordings", files=files, data=fields), 201)
    return len(clips)


def enroll(client: Any, dataset: str, folder: Path, voice: str) -> int:
    """Upload the voice's enrollment clips as the user's own positives (a recording, the voice as speaker)."""
    paths = sorted(folder.glob("*.wav"))
    if not paths:
        raise SystemExit(f"no enrollment clips in {folder}: rebuild the dev benchmark")
    files = [("files", (path.name, path.read_bytes(), "audio/wav")) for path in paths]
    fields = {"label": "positive", "source": "recording", "speaker": voice}
    heldout.expect(client.post(f"/datasets/{dataset}/recordings", files=files, data=fields), 201)
    return len(paths)


def figures(scores: dict[str, Any], voice: str, training_s: float | None) -> dict[str, Any]:
    """One row's figures: the voice's test and enrollment recall at the model's threshold, and FA/h; and the
    voice's recall at the best threshold for the goal, which tells a threshold set wrong from a model that cannot
    tell the voice from real speech at any threshold."""
    mine = scores["personalisation"][voice]
    enrolled = mine["enroll_recall_at_threshold"]
    best = scores["best"]
    return {
        "best_recall": 0.0 if best is None else best["personalisation"][voice]["test_recall_at_threshold"],
        "best_threshold": None if best is None else best["threshold"],
        "test_n": mine["test_n"],
        "recall": mine["test_recall_at_threshold"],
        # score.py --quick leaves the enrollment clips out: their recall is NaN there.
        "enroll_recall": None if enrolled != enrolled else enrolled,
        "threshold": scores["threshold"],
        "fa_per_hour_natural": scores["fa_per_hour_natural"],
        "fa_per_hour": scores["fa_per_hour"],
        "training_s": training_s,
    }


def run(args: argparse.Namespace, root: Path, data_dir: Path) -> dict[str, Any]:
    """Train and score every model of the experiment; the figures by voice and model."""
    manifest = json.loads((root / "data" / "manifest.json").read_text())
    voices = manifest["personalisation"]["voices"]
    voices = [voice for voice in voices if voice in args.only] if args.only else voices[: args.voices]
    results: dict[str, Any] = {"build_hash": manifest["build_hash"], "voices": {}, "models": {}}
    with heldout.embedded_product(data_dir, threads=args.threads) as client:
        heldout.synthesize_dataset(client, heldout.DATASET, count=args.count, seed=args.seed)
        print("(a) training the default model")
        default, default_s = heldout.train_job(client, heldout.train_body(heldout.DATASET, args.overrides, args.seed))
        print(f"  {default['id']}: {default_s:.0f} s")
        default_scores = score(args, root, data_dir, default)
        results["models"]["default"] = {"job": default["id"], "training_s": default_s}
        for voice in voices:
            dataset = f"{heldout.DATASET}-{voice}"
            copied = copy_dataset(client, heldout.DATASET, dataset)
            enrolled = enroll(client, dataset, root / "data" / "enroll" / voice, voice)
            print(f"{voice}: {dataset} holds the {copied} default clips and {enrolled} enrollment clips")
            print(f"(b) {voice}: training from scratch")
            full, full_s = heldout.train_job(client, heldout.train_body(dataset, args.overrides, args.seed))
            print(f"  {full['id']}: {full_s:.0f} s")
            print(f"(c) {voice}: fine-tuning the default model")
            tuned, tuned_s = heldout.train_job(
                client,
                {
                    "dataset": dataset,
                    "config_overrides": {**json.loads(args.finetune_overrides), "base_job": default["id"]},
                },
            )
            print(f"  {tuned['id']}: {tuned_s:.0f} s")
            results["voices"][voice] = {
                "a": figures(default_scores, voice, default_s),
                "b": figures(score(args, root, data_dir, full), voice, full_s),
                "c": figures(score(args, root, data_dir, tuned), voice, tuned_s),
                "jobs": {"b": full["id"], "c": tuned["id"]},
            }
    return results


def score(args: argparse.Namespace, root: Path, data_dir: Path, job: dict[str, Any]) -> dict[str, Any]:
    """score.py's figures for a finished job's model.onnx at its own threshold, every hop the device would run it,
    and under "best" its figures at the lowest threshold with at most BEST_AT false accepts an hour of natural audio
    (None when no threshold gets there). Recall only falls as the threshold rises, so that threshold is every
    voice's best."""
    model = heldout.export_dir(data_dir, job) / "model.onnx"
    shipped = heldout.score(model, root, args.devbench_scripts, args.quick)
    best = shipped["r_at_fa_per_hour"]["natural"][BEST_AT]["threshold"]
    shipped["best"] = (
        None if best is None else heldout.score(model, root, args.devbench_scripts, args.quick, threshold=best)
    )
    return shipped


ROWS = {
    "a": "(a) default model, no enrollment",
    "b": "(b) default dataset + 10 enrollment clips, full training",
    "c": "(c) fine-tune of (a) on those clips (base_job)",
}


def report(results: dict[str, Any], quick: bool) -> None:
    """The table: per voice and model, the voice's recall at the model's threshold, FA/h and training time."""
    rows = []
    for voice, by_model in results["voices"].items():
        for key, label in ROWS.items():
            m = by_model[key]
            rows.append(
                [
                    voice,
                    label,
                    str(m["test_n"]),
                    heldout.pct(m["recall"]),
                    heldout.pct(m["enroll_recall"]),
                    f"{m['threshold']:.4g}",
                    f"{m['fa_per_hour_natural']:.2f}",
                    f"{m['fa_per_hour']:.2f}",
                    "-" if m["training_s"] is None else f"{m['training_s']:.0f}",
                    heldout.at((m["best_recall"], m["best_threshold"])),
                ]
            )
    note = "  QUICK subset: one false accept is 7.5 FA/h, do not compare" if quick else ""
    print(f"\ndev benchmark {results['build_hash'][:12]}: trained on the enrollment clips of each voice only{note}")
    harness.print_table(
        [
            "voice",
            "model",
            "test clips",
            "recall at threshold",
            "enrollment clips recall (trained on)",
            "threshold",
            "FA/h natural",
            "FA/h all",
            "training s",
            f"best: recall at <= {BEST_AT} FA/h natural @ threshold",
        ],
        rows,
        text_columns=2,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", type=harness.positive_int, default=3, help="how many enrollment voices (1-3)")
    parser.add_argument("--count", type=harness.positive_int, default=400, help="positives to synthesize")
    parser.add_argument(
        "--overrides", help="JSON config_overrides of the full trainings (the fine-tunes take the default model's)"
    )
    parser.add_argument(
        "--finetune-overrides", default="{}", help="JSON config_overrides of the fine-tunes (besides base_job)"
    )
    parser.add_argument("--only", nargs="+", help="these enrollment voices (by name) instead of the first --voices")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthesized set and of training")
    parser.add_argument("--threads", type=int, default=0, help="the worker's torch threads (0: the product's)")
    parser.add_argument("--quick", action="store_true", help="score.py --quick: a smoke test, not a comparison")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--keep", type=Path, help="keep the product's data volume (datasets, models) here")
    parser.add_argument(
        "--devbench-scripts",
        type=Path,
        default=heldout.REPO.parent / "shared" / "devbench",
        help="build.sh and score.py",
    )
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    root = Path(os.environ.get("WT_DEVBENCH", "/tmp/wt-devbench"))
    heldout.ensure_devbench(root, args.devbench_scripts)
    if args.keep:
        results = run(args, root, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="wake-training-bench-personalise-") as tmp:
            results = run(args, root, Path(tmp) / "volume")
    report(results, args.quick)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
