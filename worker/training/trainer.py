"""The training entry point: clips and a config in, a trained and exported wake-word model out."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from shared.training_config import TrainingConfig
from worker.training.augment import AugmentConfig, Augmenter, make_generator
from worker.training.data import BalancedSampler, fit_window, label_value, load_audio, split_clips, stack_windows
from worker.training.evaluate import binary_metrics, score_logits, streaming_evaluation
from worker.training.export import export_model
from worker.training.features import SAMPLE_RATE
from worker.training.model import WakeWordModel, parameter_count


@dataclass(frozen=True)
class TrainingClip:
    """One labelled clip: a 16 kHz mono PCM16 WAV, 0.2-30 s long."""

    clip_id: str
    path: Path
    label: str  # "positive" | "negative" | "noise"
    speaker: str | None


class TrainingHooks(Protocol):
    """How the caller follows a run and asks it to stop."""

    def progress(
        self, *, epoch: int, epochs: int, step: int, total_steps: int, loss: float, metrics: dict[str, float]
    ) -> None:
        """Called after each epoch with its mean training loss and the validation metrics."""
        ...

    def log(self, message: str, level: str = "info") -> None:
        """A line for the job's log."""
        ...

    def should_stop(self) -> bool:
        """Checked before every training step; True ends the run with TrainingStopped."""
        ...


class TrainingStopped(Exception):
    """should_stop() returned True; nothing was exported."""


@dataclass
class TrainingResult:
    """What a finished run measured and which files it wrote."""

    metrics: dict[str, float]
    files: list[str]


def pick_device(device: str | None) -> torch.device:
    """The requested device, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed every RNG that model initialisation or a library might draw from."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    clips: list[TrainingClip],
    config: TrainingConfig,
    export_dir: Path,
    hooks: TrainingHooks,
    *,
    device: str | None = None,
    cache_dir: Path | None = None,
) -> TrainingResult:
    """Train a wake-word model on the clips, export it into export_dir and return its metrics and file names."""
    torch_device = pick_device(device)
    seed_everything(config.seed)
    # One generator for the split, batches and crops, so a run is reproducible from the config alone.
    rng = np.random.default_rng(config.seed)
    window = round(config.window_s * SAMPLE_RATE)

    labels = np.array([label_value(clip.label) for clip in clips], dtype=np.int64)
    split = split_clips(labels, [clip.speaker for clip in clips], rng)
    hooks.log(split.message, split.level)
    train_idx, val_idx = split.train, split.val
    sampler = BalancedSampler(train_idx, labels, config.batch_size, rng)
    hooks.log(
        f"{train_idx.size} clips for training ({sampler.positives.size} positive, {sampler.negatives.size} "
        f"negative/noise), {val_idx.size} held out for validation ({int(labels[val_idx].sum())} positive)"
    )
    if val_idx.size == 0:
        hooks.log("too few clips to hold any out: no validation metrics for this run", "warning")
    audio = [load_audio(clip.path) for clip in clips]
    val_windows = stack_windows(audio, val_idx, window)

    model = WakeWordModel(config.preset).to(torch_device)
    parameters = parameter_count(model)
    hooks.log(f"model preset {config.preset}: {parameters} parameters, on {torch_device}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    augmenter = _augmenter(config, window, audio, labels, train_idx, cache_dir, torch_device)
    generator = make_generator(config.seed, torch_device)

    total_steps = config.epochs * config.steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, config.warmup_fraction))
    best_state: dict[str, torch.Tensor] | None = None
    best_score: tuple[float, float] = (-math.inf, -math.inf)
    started = time.monotonic()
    step = 0
    epoch_loss = math.nan
    val_metrics: dict[str, float] = {}
    model.train()
    for epoch in range(1, config.epochs + 1):
        losses = []
        for _ in range(config.steps_per_epoch):
            if hooks.should_stop():
                raise TrainingStopped(f"stopped before step {step + 1} of {total_steps}")
            batch = sampler.draw()
            x = torch.from_numpy(stack_windows(audio, batch, window, rng)).to(torch_device)
            y = torch.from_numpy(labels[batch].astype(np.float32)).to(torch_device)
            if augmenter is not None:
                with torch.no_grad():
                    x = augmenter(x, labels[batch], generator)
                    features = augmenter.mask_features(model.features(x), generator)
                logits = model.net(features)
            else:
                logits = model.logits(x)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            value = loss.item()
            if not math.isfinite(value):
                raise RuntimeError(f"training diverged: loss {value} at step {step}; try a lower learning_rate")
            losses.append(value)
        epoch_loss = float(np.mean(losses))
        val_metrics = binary_metrics(score_logits(model, val_windows, torch_device), labels[val_idx], "val")
        # The best epoch's weights are exported, not the last epoch's. Accuracy, not loss, picks it: on a small
        # validation side the loss of a confident, better model can rise while it classifies more clips right.
        score = (val_metrics.get("val_accuracy", 0.0), -val_metrics.get("val_loss", epoch_loss))
        if score >= best_score:
            best_score, best_epoch = score, epoch
            best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        elapsed = time.monotonic() - started
        val_metrics = {
            **val_metrics,
            "learning_rate": float(schedule.get_last_lr()[0]),
            "clips_per_s": step * config.batch_size / elapsed if elapsed > 0 else 0.0,
            "eta_s": elapsed / step * (total_steps - step),
        }
        hooks.progress(
            epoch=epoch, epochs=config.epochs, step=step, total_steps=total_steps, loss=epoch_loss, metrics=val_metrics
        )
        summary = ", ".join(f"{name} {value:.4f}" for name, value in val_metrics.items())
        hooks.log(f"epoch {epoch}/{config.epochs}: loss {epoch_loss:.4f}" + (f", {summary}" if summary else ""))

    if best_state is not None:
        model.load_state_dict(best_state)
        hooks.log(f"keeping the weights of epoch {best_epoch} (validation accuracy {best_score[0]:.3f})")
    evaluation = streaming_evaluation(
        model,
        torch_device,
        [audio[i] for i in val_idx if labels[i] == 1],
        [audio[i] for i in val_idx if labels[i] == 0],
        window=window,
        target_fa_per_hour=config.target_fa_per_hour,
    )
    train_windows = stack_windows(audio, train_idx, window)
    train_metrics = binary_metrics(score_logits(model, train_windows, torch_device), labels[train_idx], "train")
    # Without validation clips, the parity check runs on training windows: any real audio exercises the graph.
    files, parity = export_model(model, config, export_dir, val_windows if val_idx.size else train_windows)
    hooks.log(
        f"exported {', '.join(files)}; parity max |diff| onnx {parity['parity_max_abs_diff_onnx']:.2e}, "
        f"torchscript {parity['parity_max_abs_diff_torchscript']:.2e}"
    )
    calibration = evaluation.get("calibration")
    if calibration:
        hooks.log(
            f"threshold {calibration['threshold']:.3f} for {config.target_fa_per_hour} FA/h: "
            f"FRR {calibration['frr']:.3f}, FA/h {calibration['fa_per_hour']:.2f} over "
            f"{evaluation['negative_audio_s']:.0f} s of validation negatives"
        )
    else:
        hooks.log("no positive or no negative validation audio: the threshold is not calibrated", "warning")
    metrics = {
        "final_loss": epoch_loss,
        **train_metrics,
        **val_metrics,
        "parameters": float(parameters),
        "steps": float(step),
        "train_clips": float(train_idx.size),
        "val_clips": float(val_idx.size),
        **parity,
    }
    if calibration:
        metrics.update(
            threshold=calibration["threshold"],
            val_frr=calibration["frr"],
            val_fa_per_hour=calibration["fa_per_hour"],
            val_precision=evaluation["precision"],
            val_recall=evaluation["recall"],
            val_roc_auc=evaluation["roc_auc"],
        )
    report = {
        "metrics": metrics,
        "threshold": calibration["threshold"] if calibration else 0.5,
        "calibration": calibration,
        "curve": evaluation.get("curve", []),
        "negative_audio_s": evaluation.get("negative_audio_s", 0.0),
        "split": {"by_speaker": split.by_speaker, "message": split.message},
    }
    (export_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    return TrainingResult(metrics=metrics, files=[*files, "metrics.json"])


def warmup_cosine(total_steps: int, warmup_fraction: float):
    """The learning-rate factor per step: linear warm-up, then cosine decay to a tenth."""
    warmup = max(1, round(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _augmenter(
    config: TrainingConfig,
    window: int,
    audio: list[np.ndarray],
    labels: np.ndarray,
    train_idx: np.ndarray,
    cache_dir: Path | None,
    device: torch.device,
) -> Augmenter | None:
    if not config.augment:
        return None
    # The dataset's own noise clips (training side only) are the noise bank; coloured noise fills in.
    noise = [audio[i] for i in train_idx if labels[i] == 0 and audio[i].size >= window // 2]
    bank = np.stack([fit_window(clip, window) for clip in noise]) if noise else None
    return Augmenter(AugmentConfig(), window, noise_bank=bank, cache_dir=cache_dir).to(device)
