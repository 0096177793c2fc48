"""Fine-tuning: a model that starts from an earlier job's weights, and the shorter, gentler schedule it runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared.training_config import ConfigError, TrainingConfig, check_finetune
from worker.training.evaluate import binary_metrics, score_logits
from worker.training.export import load_checkpoint
from worker.training.model import WakeModel, build_model
from worker.training.validation import ValidationAudio, streaming_metrics


@dataclass(frozen=True)
class Schedule:
    """How long a run trains and at what peak learning rate."""

    epochs: int
    learning_rate: float


def schedule(config: TrainingConfig) -> Schedule:
    """The config's epochs and rate; for a fine-tune, `finetune_fraction` of the epochs at `finetune_lr_factor` of
    the rate."""
    if config.base_job is None:
        return Schedule(config.epochs, config.learning_rate)
    return Schedule(
        max(1, round(config.epochs * config.finetune_fraction)), config.learning_rate * config.finetune_lr_factor
    )


def start_model(config: TrainingConfig, base_checkpoint: Path | None) -> WakeModel:
    """A fresh model, or (with `base_job`) the base's, checked to have this config's architecture, front end and
    window."""
    if config.base_job is None:
        return build_model(config.preset, config.architecture)
    if base_checkpoint is None:
        raise ValueError(f"the config fine-tunes job {config.base_job} but no checkpoint of it was given")
    if not base_checkpoint.is_file():
        raise FileNotFoundError(
            f"the model of base job {config.base_job} is gone from the data volume ({base_checkpoint}); "
            "train without base_job"
        )
    model, checkpoint = load_checkpoint(base_checkpoint)
    try:
        check_finetune(config, checkpoint["config"], checkpoint.get("front_end"), config.base_job)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return model.train()


def judge_base(
    model: torch.nn.Module,
    config: TrainingConfig,
    plan: Schedule,
    val_windows: np.ndarray,
    val_labels: np.ndarray,
    validation: ValidationAudio,
    judged: dict[str, Any],
    device: torch.device,
    hooks: Any,
) -> dict[str, Any]:
    """For a fine-tune: say where it starts from, and how the base model does on this run's validation before any
    step (the figures the fine-tune's are to be compared with); nothing for a fresh model."""
    if config.base_job is None:
        return {}
    figures = binary_metrics(score_logits(model, val_windows, device), val_labels, "base_val")
    if val_labels.size:
        streaming = streaming_metrics(validation.evaluate_epoch(model, device, **judged))
        figures.update({f"base_{name}": value for name, value in streaming.items() if name != "val_roc_auc"})
    summary = ", ".join(f"{name.removeprefix('base_')} {value:.4f}" for name, value in figures.items())
    hooks.log(
        f"fine-tuning the model of job {config.base_job} for {plan.epochs} of {config.epochs} epochs at a peak "
        f"learning rate of {plan.learning_rate:g}" + (f"; before the first step it scores {summary}" if summary else "")
    )
    return {"fine_tuned_from": str(config.base_job), **figures}
