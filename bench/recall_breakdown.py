"""Where the recall goes: the dev benchmark's test positives by spoken form, background, room and SNR.

A recall of 24 % says nothing about why. This scores every test positive and its clean copy (the same phrase with
no room and no background) as the benchmark's score.py does, and `table` groups them: recall at the product
threshold next to the clean copies' recall at that threshold, and recall at the best threshold for 0.5 false
accepts an hour of natural audio. A phrase form the clean copies miss is a phrase the model never learned; clean
copies heard and noisy ones missed is the room and the background.

Two roles in one file: bench/heldout.py imports it (`score_clips`, `table`), and `score_clips` runs it as a script
with the benchmark's own venv (onnxruntime, soundfile), which imports score.py from `--scripts`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

GROUPS = ("all", "spoken as", "background", "room", "SNR over the phrase")
SNR_SPLIT_DB = 10.0
"""The benchmark's backgrounds run 5-20 dB below the phrase; under this SNR are the louder ones."""


def score_clips(model: Path, root: Path, scripts: Path, quick: bool, hop_s: float) -> list[dict[str, Any]]:
    """Each test positive of the benchmark in `root` with its score and its clean copy's (maxima over windows every
    `hop_s`), and what the manifest says of it."""
    # Imported here: the benchmark's venv, which runs this file as a script, lacks the harness's packages.
    import harness

    args = ["--scripts", str(scripts), "--onnx", str(model), "--data", str(root / "data"), "--hop-s", f"{hop_s:g}"]
    return harness.devbench_json(root, Path(__file__), args + (["--quick"] if quick else []), "scoring the clips")


def groups(clip: dict[str, Any]) -> list[tuple[str, str]]:
    """The (group, member) pairs a clip counts in."""
    loud = f"under {SNR_SPLIT_DB:g} dB" if clip["snr_db"] < SNR_SPLIT_DB else f"{SNR_SPLIT_DB:g} dB or more"
    return [
        ("all", "all"),
        ("spoken as", f'"{clip["text"]}"'),
        ("background", clip["background"]),
        ("room", "reverb" if clip["reverb"] else "dry"),
        ("SNR over the phrase", loud),
    ]


def table(clips: list[dict[str, Any]], threshold: float, best: float | None) -> list[list[str]]:
    """Rows of group, member, clips, recall at `threshold`, the clean copies' recall there, and recall at `best`
    (the threshold of the best recall at 0.5 FA/h of natural audio; a dash when none gets there)."""
    members: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for clip in clips:
        for key in groups(clip):
            members.setdefault(key, []).append(clip)

    def share(chosen: list[dict[str, Any]], field: str, at: float | None) -> str:
        if at is None:
            return "-"
        return f"{100 * sum(c[field] >= at for c in chosen) / len(chosen):.1f}%"

    return [
        [
            group,
            member,
            str(len(chosen)),
            share(chosen, "score", threshold),
            share(chosen, "clean", threshold),
            share(chosen, "score", best),
        ]
        # Grouped as GROUPS lists them; within a group, in the order the clips first show each member.
        for (group, member), chosen in sorted(members.items(), key=lambda item: GROUPS.index(item[0][0]))
    ]


COLUMNS = [
    "grouped by",
    "which",
    "clips",
    "recall at the product threshold",
    "their clean copies at that threshold",
    "recall at the R@FA/h<=0.5 natural threshold",
]


def _score(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run in the benchmark's venv: score.py's own model runner, windows and padding."""
    sys.path.insert(0, str(args.scripts))
    import numpy as np
    import soundfile as sf
    from score import SR, Model, frames_of, pad_positive, select

    manifest = json.loads((args.data / "manifest.json").read_text())
    model = Model(str(args.onnx))
    window, hop = model.window, round(args.hop_s * SR)
    positives, _ = select(manifest, args.quick)

    def peak(audio: np.ndarray) -> float:
        return float(model.scores(frames_of(audio, window, hop)[0]).max())

    clips = []
    for clip in (p for p in positives if p["split"] == "test"):
        audio, _ = sf.read(args.data / clip["path"], dtype="float32")
        clean, _ = sf.read(args.data / clip["clean_path"], dtype="float32")
        clips.append(
            {
                "id": clip["id"],
                "voice": clip["voice"],
                "text": clip["text"],
                "rate": clip["rate_name"],
                "background": clip["background"]["type"],
                "snr_db": clip["snr_db"],
                "reverb": bool(clip["reverb"]),
                "score": peak(pad_positive(audio, window)),
                # As score.py pads a clean copy: silence, so that every placement of the phrase is scored.
                "clean": peak(np.pad(clean, (max(0, window - SR),) * 2)),
            }
        )
    return clips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scripts", type=Path, required=True, help="the dev benchmark's scripts (score.py)")
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--hop-s", type=float, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    args.json.write_text(json.dumps(_score(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
