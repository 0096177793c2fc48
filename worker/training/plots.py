"""PNG plots for the export: training curves, the detection-error curve and score histograms."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Protocol

TRAINING_CURVES = "training_curves.png"
DETECTION_ERROR_CURVE = "detection_error_curve.png"
SCORE_HISTOGRAMS = "score_histograms.png"


class LogHook(Protocol):
    def log(self, message: str, level: str = "info") -> None: ...


def write_plots(folder: Path, report: dict[str, Any], hooks: LogHook) -> list[str]:
    """Draw what the report holds into folder; the file names written (none, with a warning, without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on a worker; Agg renders straight to PNG
        import matplotlib.pyplot as plt
    except ImportError:
        hooks.log("matplotlib is not installed: the export has no plots", "warning")
        return []
    written = []
    for name, draw in (
        (TRAINING_CURVES, _training_curves),
        (DETECTION_ERROR_CURVE, _detection_error_curve),
        (SCORE_HISTOGRAMS, _score_histograms),
    ):
        figure = draw(plt, report)
        if figure is None:
            continue
        try:
            figure.savefig(folder / name, dpi=100)
        finally:
            plt.close(figure)
        written.append(name)
    return written


def _training_curves(plt: Any, report: dict[str, Any]) -> Any:
    history = report.get("history") or []
    if not history:
        return None
    epochs = [row["epoch"] for row in history]
    figure, (losses, rates) = plt.subplots(1, 2, figsize=(10, 4))
    losses.plot(epochs, [row["loss"] for row in history], marker="o", label="training loss")
    if any("val_loss" in row for row in history):
        losses.plot(epochs, [row.get("val_loss", math.nan) for row in history], marker="o", label="validation loss")
    losses.set(xlabel="epoch", ylabel="loss (BCE)", title="Loss")
    losses.legend()
    for key, label in (("val_accuracy", "validation accuracy"), ("val_frr", "validation FRR at target FA/h")):
        if any(key in row for row in history):
            rates.plot(epochs, [row.get(key, math.nan) for row in history], marker="o", label=label)
    rates.set(xlabel="epoch", ylim=(-0.02, 1.02), title="Validation")
    rates.legend()
    figure.tight_layout()
    return figure


def _detection_error_curve(plt: Any, report: dict[str, Any]) -> Any:
    curve = report.get("curve") or []
    if not curve:
        return None
    figure, axes = plt.subplots(figsize=(6, 4.5))
    axes.plot([p["fa_per_hour"] for p in curve], [p["frr"] for p in curve], drawstyle="steps-post")
    calibration = report.get("calibration")
    if calibration:
        axes.plot(
            [calibration["fa_per_hour"]],
            [calibration["frr"]],
            "o",
            color="crimson",
            label=f"threshold {calibration['threshold']:.3f}: FRR {calibration['frr']:.3f}, "
            f"{calibration['fa_per_hour']:.2f} FA/h"
            + (
                f" (score tail predicts {calibration['expected_fa_per_hour']:.2f})"
                if "expected_fa_per_hour" in calibration
                else ""
            ),
        )
        axes.axvline(calibration["target_fa_per_hour"], color="grey", linestyle="--", label="target FA/h")
        axes.legend(fontsize=8)
    axes.set_xscale("symlog", linthresh=0.1)
    axes.set_xlim(left=0)
    axes.set(
        xlabel="false accepts per hour (validation negatives)",
        ylabel="false-reject rate",
        ylim=(-0.02, 1.02),
        title="Detection-error curve",
    )
    figure.tight_layout()
    return figure


def _score_histograms(plt: Any, report: dict[str, Any]) -> Any:
    histograms = report.get("score_histograms") or {}
    edges = histograms.get("edges")
    if not edges:
        return None
    figure, axes = plt.subplots(figsize=(6, 4.5))
    centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    width = edges[1] - edges[0]
    for key, label, colour in (
        ("negative_windows", "negative windows (streamed)", "tab:blue"),
        ("positive_clips", "positive clips (best window)", "tab:orange"),
    ):
        counts = histograms.get(key) or []
        total = sum(counts) or 1
        axes.bar(centres, [c / total for c in counts], width=width, alpha=0.6, label=label, color=colour)
    if report.get("calibration"):
        axes.axvline(report["threshold"], color="crimson", linestyle="--", label="threshold")
    axes.set(xlabel="wake probability", ylabel="share", title="Validation scores")
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure
