"""The training entry point: clips and a config in, a trained and exported wake-word model out."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from shared.training_config import FRONT_END, TrainingConfig
from worker.training import finetune
from worker.training.augment import AugmentConfig, Augmenter
from worker.training.background import load_or_build_speech_bank
from worker.training.batches import BackgroundStream, BatchMaker, Prefetcher
from worker.training.counterparts import add_counterparts
from worker.training.coverage import coverage_warnings, validation_coverage
from worker.training.data import (
    BalancedSampler,
    fit_window,
    label_value,
    load_audio,
    split_clips,
    stack_windows,
    user_clips,
    user_weighting,
)
from worker.training.draws import make_generator
from worker.training.evaluate import binary_metrics, score_logits
from worker.training.export import export_model
from worker.training.features import SAMPLE_RATE
from worker.training.model import parameter_count
from worker.training.objective import warmup_cosine, weighted_loss
from worker.training.plots import write_plots
from worker.training.spectral import perturb_spectra
from worker.training.validation import ValidationAudio, epoch_rank, epoch_rank_words, streaming_metrics

BANK_SEED = 0
"""The background speech bank's seed: fixed, so one cached bank serves every job."""
VALIDATION_BANK_SEED = 1
"""Another bank for validation: the same kind of speech, none of the same utterances."""
VALIDATION_BANK_S = 600.0
"""Seconds of it in validation: the start with every epoch, all of it for the threshold (about 3 s of scoring)."""


@dataclass(frozen=True)
class TrainingClip:
    """One labelled clip: a 16 kHz mono PCM16 WAV, 0.2-30 s long."""

    clip_id: str
    path: Path
    label: str  # "positive" | "negative" | "noise"
    speaker: str | None
    source: str | None = None
    """"synthetic", "recording" or "upload": the user's own clips count for validation coverage and the split."""


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

    metrics: dict[str, Any]
    """Figures (floats), plus `validation_coverage` (a dict) and `warnings` (a list of sentences)."""
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
    base_checkpoint: Path | None = None,
) -> TrainingResult:
    """Train a wake-word model on the clips, export it into export_dir and return its metrics and file names.

    With `config.base_job`, the model starts from `base_checkpoint` (that job's model.pt) and fine-tunes.
    """
    torch_device = pick_device(device)
    seed_everything(config.seed)
    # One generator for the split, batches and crops, so a run is reproducible from the config alone.
    rng = np.random.default_rng(config.seed)
    window = round(config.window_s * SAMPLE_RATE)

    labels = np.array([label_value(clip.label) for clip in clips], dtype=np.int64)
    speakers, sources = [clip.speaker for clip in clips], [clip.source for clip in clips]
    split = split_clips(labels, speakers, rng, sources=sources)
    hooks.log(split.message, split.level)
    train_idx, val_idx = split.train, split.val
    clip_labels, clip_val = labels, val_idx
    audio = [load_audio(clip.path) for clip in clips]
    kinds = [clip.label for clip in clips]
    user = user_clips(sources, speakers)
    if config.user_counterparts and (user & (labels == 1)).any():
        extended = add_counterparts(audio, labels, kinds, user, train_idx, val_idx, rng)
        audio, labels, kinds, user = extended.audio, extended.labels, extended.kinds, extended.user
        train_idx, val_idx = extended.train, extended.val
        hooks.log(extended.summary())
    weighting = user_weighting(user, labels, train_idx, weight=config.user_clip_weight, share=config.user_batch_share)
    if weighting.warning:
        hooks.log(weighting.warning, "warning")
    sampler = BalancedSampler(
        train_idx, labels, config.batch_size, rng, user=user, user_weight=weighting.weight, user_share=weighting.share
    )
    hooks.log(
        f"{train_idx.size} clips for training ({sampler.positives.size} positive, {sampler.negatives.size} "
        f"negative/noise), {val_idx.size} held out for validation ({int(labels[val_idx].sum())} positive)"
    )
    if sampler.user_positives.size or sampler.user_negatives.size:
        hooks.log(
            f"your own clips in training: {sampler.user_positives.size} positive, {sampler.user_negatives.size} "
            f"negative/noise; each is drawn {weighting.weight:g}x as often as another of its class and they "
            f"fill at least {100 * weighting.share:.0f}% of the rows of their class in every batch"
        )
    if val_idx.size == 0:
        hooks.log("too few clips to hold any out: no validation metrics for this run", "warning")
    val_windows = stack_windows(audio, val_idx, window)
    validation = ValidationAudio.from_clips(audio, labels, kinds, val_idx, user)
    if config.background_speech_s > 0 and val_idx.size:
        # Minutes of a dataset's negatives say little about a rate per hour of people talking; this adds some.
        validation.bank = load_or_build_speech_bank(cache_dir, VALIDATION_BANK_S, VALIDATION_BANK_SEED)

    model = finetune.start_model(config, base_checkpoint)
    model = model.to(torch_device)
    judged = {"window": window, "target": config.target_fa_per_hour}
    parameters = parameter_count(model)
    hooks.log(f"model preset {config.preset} ({config.architecture}): {parameters} parameters, on {torch_device}")
    plan = finetune.schedule(config)
    epochs = plan.epochs
    base_metrics = finetune.judge_base(
        model, config, plan, val_windows, labels[val_idx], validation, judged, torch_device, hooks
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=plan.learning_rate)
    # The weights judged and exported are a running average of the trained ones: one step's weights swing with the
    # batch it saw, and validation on synthetic voices is too small to pick the lucky ones reliably.
    averaged = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema_decay), use_buffers=True
        )
        if config.ema_decay > 0
        else None
    )
    judged_model = averaged.module if averaged is not None else model
    augmenter = _augmenter(config, window, audio, labels, train_idx, cache_dir, torch_device)
    background = BackgroundStream([audio[i] for i in train_idx if labels[i] == 0], rng)
    speech = None
    if config.background_speech_s > 0:
        started_bank = time.monotonic()
        speech = BackgroundStream([load_or_build_speech_bank(cache_dir, config.background_speech_s, BANK_SEED)], rng)
        hooks.log(
            f"background speech bank: {speech.audio.size / SAMPLE_RATE / 60:.0f} min of many voices and languages "
            f"({time.monotonic() - started_bank:.1f} s to load or make)"
        )
    maker = BatchMaker(
        audio,
        labels,
        sampler,
        window,
        rng,
        seed=config.seed,
        device=torch_device,
        augmenter=augmenter,
        background=background,
        speech=speech,
    )
    # SpecAugment draws from its own generator: the batch thread owns the other one.
    mask_generator = make_generator(config.seed + 1, torch_device)
    use_amp = torch_device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    total_steps = epochs * config.steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, config.warmup_fraction))
    best_state: dict[str, torch.Tensor] | None = None
    best_key: tuple[float, ...] | None = None
    best_epoch = 0
    stale_epochs = 0
    min_epochs = math.ceil(epochs / 2)
    history: list[dict[str, float]] = []
    started = time.monotonic()
    step_time = 0.0
    step = 0
    epoch_loss = math.nan
    val_metrics: dict[str, float] = {}
    model.train()
    with Prefetcher(maker, threaded=torch_device.type == "cpu") as batches:
        for epoch in range(1, epochs + 1):
            losses = []
            for _ in range(config.steps_per_epoch):
                if hooks.should_stop():
                    raise TrainingStopped(f"stopped before step {step + 1} of {total_steps}")
                step_started = time.perf_counter()
                batch = next(batches)
                with torch.autocast(torch_device.type, enabled=use_amp):
                    if augmenter is not None:
                        with torch.no_grad():
                            features = perturb_spectra(model.features(batch.audio), mask_generator)
                            features = augmenter.mask_features(features, mask_generator)
                        logits = model.net(features)
                    else:
                        logits = model.logits(batch.audio)
                loss = weighted_loss(logits.float(), batch.labels, config.hard_negative_weight)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                step += 1
                value = loss.item()
                step_time += time.perf_counter() - step_started
                if not math.isfinite(value):
                    raise RuntimeError(f"training diverged: loss {value} at step {step}; try a lower learning_rate")
                losses.append(value)
            epoch_loss = float(np.mean(losses))
            val_metrics = {}
            # A fine-tune is short, and its epochs before min_epochs can never be kept: validating them would cost a
            # tenth of its time for curves alone (the base's own figures are logged before the first step).
            if epoch >= min_epochs or config.base_job is None:
                val_metrics = binary_metrics(
                    score_logits(judged_model, val_windows, torch_device), labels[val_idx], "val"
                )
                # Epochs compete on what the validation audio shows; the tail's extrapolation is for the threshold.
                evaluation = validation.evaluate_epoch(judged_model, torch_device, **judged)
                val_metrics.update(streaming_metrics(evaluation))
            # Only the second half of the run competes: on a small validation side one loud near-miss can make an
            # undertrained early epoch look best, and the learning rate is still high there anyway.
            key = epoch_rank(val_metrics, epoch_loss)
            if epoch < min_epochs:
                pass
            elif best_key is None or key > best_key:
                best_key, best_epoch, stale_epochs = key, epoch, 0
                best_state = {name: value.detach().clone() for name, value in judged_model.state_dict().items()}
            else:
                stale_epochs += 1
            elapsed = time.monotonic() - started
            val_metrics = {
                **val_metrics,
                "learning_rate": float(schedule.get_last_lr()[0]),
                "clips_per_s": step * config.batch_size / elapsed if elapsed > 0 else 0.0,
                "eta_s": elapsed / step * (total_steps - step),
            }
            history.append({"epoch": float(epoch), "loss": epoch_loss, **val_metrics})
            hooks.progress(
                epoch=epoch,
                epochs=epochs,
                step=step,
                total_steps=total_steps,
                loss=epoch_loss,
                metrics=val_metrics,
            )
            summary = ", ".join(f"{name} {value:.4f}" for name, value in val_metrics.items())
            hooks.log(f"epoch {epoch}/{epochs}: loss {epoch_loss:.4f}" + (f", {summary}" if summary else ""))
            if config.patience and stale_epochs >= config.patience and epoch < epochs:
                hooks.log(
                    f"early stop after epoch {epoch}: no better validation FRR at {config.target_fa_per_hour} FA/h "
                    f"(or loss) for {config.patience} epochs"
                )
                break
        data_wait_s = batches.wait_s

    if best_state is not None:
        model.load_state_dict(best_state)
        hooks.log(f"keeping the weights of epoch {best_epoch} ({epoch_rank_words(history[-1])})")
    elif averaged is not None:
        model.load_state_dict(averaged.module.state_dict())
    data_share = data_wait_s / step_time if step_time > 0 else 0.0
    hooks.log(f"{step} steps in {step_time:.1f} s; {100 * data_share:.0f}% of it waiting for batches")
    evaluation = validation.calibrate(model, torch_device, **judged)
    train_windows = stack_windows(audio, train_idx, window)
    train_metrics = binary_metrics(score_logits(model, train_windows, torch_device), labels[train_idx], "train")
    best_val = binary_metrics(score_logits(model, val_windows, torch_device), labels[val_idx], "val")
    # Without validation clips, the parity check runs on training windows: any real audio exercises the graph.
    files, parity = export_model(model, config, export_dir, val_windows if val_idx.size else train_windows)
    hooks.log(
        f"exported {', '.join(files)}; parity max |diff| onnx {parity['parity_max_abs_diff_onnx']:.2e}, "
        f"torchscript {parity['parity_max_abs_diff_torchscript']:.2e}"
    )
    calibration = evaluation.get("calibration")
    if calibration:
        how = "observed"
        if calibration["method"] != "observed":
            how = (
                f"{calibration['method']} (too little audio to observe that rate; the score tail predicts "
                f"{calibration['expected_fa_per_hour']:.2f} FA/h there)"
            )
        hooks.log(
            f"threshold {calibration['threshold']:.3f} for {config.target_fa_per_hour} FA/h, {how}: "
            f"FRR {calibration['frr']:.3f}, FA/h {calibration['fa_per_hour']:.2f} over "
            f"{evaluation['negative_audio_s']:.0f} s of validation {evaluation['calibrated_on']}"
        )
        if "near_miss_accept_rate" in evaluation:
            hooks.log(
                f"at that threshold {100 * evaluation['near_miss_accept_rate']:.1f}% of "
                f"{evaluation['near_miss_clips']} held-out negative phrases (near misses) would wake the device"
            )
        if "user_clips" in calibration:
            heard = round((1 - calibration["user_frr"]) * calibration["user_clips"])
            hooks.log(f"at that threshold {heard} of your {calibration['user_clips']} held-out takes wake the device")
    else:
        hooks.log("no positive or no negative validation audio: the threshold is not calibrated", "warning")
    # Coverage counts the dataset's clips; the counterparts are cut from takes it already counts.
    coverage = validation_coverage(
        sources,
        speakers,
        clip_labels,
        clip_val,
        negative_audio_s=evaluation.get("negative_audio_s", 0.0),
        calibration=calibration,
    )
    warnings = coverage_warnings(coverage)
    hooks.log(
        f"validation covers {coverage['positive_clips']} phrases ({coverage['user_positive_clips']} of your own; by "
        f"source {coverage['positive_clips_by_source']}) and {coverage['negative_audio_s']:.0f} s of negative audio"
    )
    for warning in warnings:
        hooks.log(warning, "warning")
    metrics = {
        "final_loss": epoch_loss,
        **train_metrics,
        **val_metrics,
        **best_val,
        "best_epoch": float(best_epoch),
        "epochs_run": float(len(history)),
        "parameters": float(parameters),
        "steps": float(step),
        "train_clips": float(train_idx.size),
        "val_clips": float(val_idx.size),
        "data_wait_share": data_share,
        **base_metrics,
        **parity,
        "front_end": FRONT_END,
        "validation_coverage": coverage,
        "warnings": warnings,
    }
    if calibration:
        metrics.update(
            streaming_metrics(evaluation),
            threshold=calibration["threshold"],
            val_precision=evaluation["precision"],
            val_recall=evaluation["recall"],
            **(
                {"val_near_miss_accept_rate": evaluation["near_miss_accept_rate"]}
                if "near_miss_accept_rate" in evaluation
                else {}
            ),
            # streaming_metrics gave the share of the user's held-out takes the threshold misses; this, how many.
            **({"val_user_clips": calibration["user_clips"]} if "user_clips" in calibration else {}),
        )
    report = {
        "metrics": metrics,
        "threshold": calibration["threshold"] if calibration else 0.5,
        "calibration": calibration,
        "curve": evaluation.get("curve", []),
        "negative_audio_s": evaluation.get("negative_audio_s", 0.0),
        # How often the validation scored the audio: the deployed detector's hop, or a streaming model's step.
        "hop_s": evaluation.get("hop_s"),
        "calibrated_on": evaluation.get("calibrated_on"),
        "near_miss_accept_rate": evaluation.get("near_miss_accept_rate"),
        "history": history,
        "score_histograms": evaluation.get("histograms", {}),
        "split": {"by_speaker": split.by_speaker, "message": split.message},
        "validation_coverage": coverage,
        "warnings": warnings,
    }
    plots = write_plots(export_dir, report, hooks)
    (export_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    return TrainingResult(metrics=metrics, files=[*files, *plots, "metrics.json"])


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
