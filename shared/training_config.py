"""The training configuration: defaults, presets and the validation of user overrides."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

PRESETS = ("tiny", "small", "base", "quick")
QUICK_PRESET: dict[str, Any] = {"preset": "tiny", "epochs": 10, "steps_per_epoch": 40, "ema_decay": 0.98}
"""`quick`: a first model in about a minute on a CPU core, to try the phrase before the full run."""

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class TrainingConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Everything a training job is run with; the job row stores it fully resolved."""

    preset: Literal["tiny", "small", "base"] = "small"
    """Model size: tiny (<= 30k parameters), small (<= 100k), base. The `quick` preset is tiny with fewer steps."""
    epochs: Annotated[int, msgspec.Meta(ge=1, le=500)] = 30
    steps_per_epoch: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 50
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 32
    learning_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 3e-3
    window_s: Annotated[float, msgspec.Meta(ge=0.5, le=3.0)] = 1.0
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] = 0
    augment: bool = True
    """Placement, gain, noise, reverb, speed, pitch and SpecAugment on each training batch."""
    warmup_fraction: Annotated[float, msgspec.Meta(ge=0, le=0.5)] = 0.1
    """Share of the steps over which the learning rate ramps up before its cosine decay."""
    target_fa_per_hour: Annotated[float, msgspec.Meta(gt=0, le=100)] = 0.5
    """False accepts per hour of background audio the calibrated threshold aims at."""
    hard_negative_weight: Annotated[float, msgspec.Meta(ge=0, le=100)] = 2.0
    """A negative's loss weighs 1 + this x its predicted probability, so near-misses count more; 0 is plain BCE."""
    ema_decay: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.995
    """Weights are judged and exported as an exponential moving average of the trained ones, with this decay per
    step; 0 uses the weights of the last step."""
    background_speech_s: Annotated[float, msgspec.Meta(ge=0, le=14_400)] = 1800.0
    """Seconds of synthesized background speech (many voices and languages) that negatives and babble are cut
    from; 0 trains on the dataset's negatives alone."""
    patience: Annotated[int, msgspec.Meta(ge=0, le=500)] = 8
    """Stop after this many epochs without a better validation FRR at the target FA/h; 0 never stops early.

    Only the second half of the epochs counts: the best of those is exported, and the run can stop early there."""


class ConfigError(ValueError):
    """An override that names no setting or has a bad value; the message says which and why."""


def resolve_config(preset: str | None, overrides: dict[str, Any] | None) -> TrainingConfig:
    """Defaults, then the preset, then the user's overrides; raise ConfigError naming what is wrong."""
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; use one of: {', '.join(PRESETS)}")
        values.update(QUICK_PRESET if preset == "quick" else {"preset": preset})
    overrides = overrides or {}
    known = set(TrainingConfig.__struct_fields__)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(
            f"unknown config override {', '.join(map(repr, unknown))}; known keys: {', '.join(sorted(known))}"
        )
    values.update(overrides)
    try:
        return msgspec.convert(values, TrainingConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"bad config override: {exc}") from None


def check_budget(config: TrainingConfig, *, max_batch_audio_s: float, max_training_audio_h: float) -> None:
    """Raise ConfigError when the config asks for more work than the service allows, naming the limit's setting."""
    batch_s = config.batch_size * config.window_s
    if batch_s > max_batch_audio_s:
        raise ConfigError(
            f"batch_size x window_s is {batch_s:g} s of audio per batch; the limit is {max_batch_audio_s:g} s "
            "(WAKE_TRAINING_MAX_BATCH_AUDIO_S): use a smaller batch or a shorter window"
        )
    hours = config.epochs * config.steps_per_epoch * batch_s / 3600
    if hours > max_training_audio_h:
        raise ConfigError(
            f"epochs x steps_per_epoch x batch_size x window_s is {hours:,.0f} h of audio; the limit is "
            f"{max_training_audio_h:g} h (WAKE_TRAINING_MAX_TRAINING_AUDIO_H): use fewer epochs or steps"
        )


def config_to_dict(config: TrainingConfig) -> dict[str, Any]:
    """The config as plain JSON-able values, for the job row and config.json."""
    return msgspec.to_builtins(config)
