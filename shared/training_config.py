"""The training configuration: defaults, presets (built-in and from the environment) and the validation of overrides."""

from __future__ import annotations

import json
import tomllib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from shared.names import NAME_RE, NAME_RULE

MODEL_SIZES = ("tiny", "small", "base")
PRESETS_SETTING = "WAKE_TRAINING_PRESETS"
# Preset names follow the rule of dataset names.
PRESET_NAME_RE = NAME_RE
PRESET_NAME_RULE = NAME_RULE
MAX_DESCRIPTION_CHARS = 200

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
FRONT_END = "log-mel 40 bands, 25 ms every 10 ms, 16 kHz"
"""What the model hears (worker/training/features.py); a new front end must change it, so that no fine-tune starts
from a model that heard something else. Models from before this was recorded heard this one."""
STREAMING_MIN_WINDOW_S: dict[str, float] = {"tiny": 0.85, "small": 0.91, "base": 0.97}
"""The shortest window whose audio the streaming network of each size reads to its first output (stream_net.py)."""
DEFAULT_WINDOW_S: dict[str, float] = {"streaming": 1.5, "windowed": 1.0}
"""Each architecture's window when the config names none: the streaming network's outputs each hear about 0.9 s,
and a 1.5-s window gives it some 20 of them to pool over."""
LEGACY_SETTINGS: dict[str, Any] = {"architecture": "windowed"}
"""What a job stored before a setting existed was trained with: every model before the streaming one was windowed."""
FINETUNE_KEPT: dict[str, str] = {"preset": "architecture", "architecture": "architecture", "window_s": "window"}
"""The settings a fine-tune must share with its base, by what they set: the weights only fit that network."""


class TrainingConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Everything a training job is run with; the job row stores it fully resolved."""

    preset: Literal["tiny", "small", "base"] = "small"
    """Model size: tiny (<= 30k parameters), small (<= 100k), base. Named presets (`quick`, `thorough`) set it too."""
    architecture: Literal["windowed", "streaming"] = "streaming"
    """`streaming`: a causal network that is also exported in a streaming form (model.streaming.onnx), which scores
    each new 30 ms of audio once instead of recomputing a whole window every hop; its windowed form gives the same
    scores. `windowed`: the network with centred convolutions, scored a whole window every 100 ms (the default until
    2026-12; about 3.5 times the streaming model's CPU on a device)."""
    epochs: Annotated[int, msgspec.Meta(ge=1, le=500)] = 30
    steps_per_epoch: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 50
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 32
    learning_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 3e-3
    window_s: Annotated[float, msgspec.Meta(ge=0.5, le=3.0)] | None = None
    """Seconds of audio the model scores at once; none given: the architecture's (DEFAULT_WINDOW_S)."""
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
    base_job: uuid.UUID | None = None
    """A succeeded train job whose model this one fine-tunes on the current clips, keeping its architecture, front
    end and window; the rest of the config starts from that job's."""
    finetune_fraction: Annotated[float, msgspec.Meta(gt=0, le=1)] = 1 / 3
    """With `base_job`: the share of the epochs a fine-tune runs (at least one)."""
    finetune_lr_factor: Annotated[float, msgspec.Meta(gt=0, le=1)] = 1.0
    """With `base_job`: the learning rate's peak is `learning_rate` times this. The full rate, because a fine-tune
    must move the base far, to a voice it scored near 0: on the dev benchmark's enrollment voices, 0.3 never told
    the voice from real speech better and often worse (FINDINGS.md, "Fine-tune learning rate")."""
    user_clip_weight: Annotated[float, msgspec.Meta(ge=1, le=100)] = 4.0
    """How much more often a clip of the user's own (a recording or upload with a speaker) is drawn than another of
    its class: a few dozen takes next to hundreds of synthetic clips would otherwise hardly be seen."""
    user_batch_share: Annotated[float, msgspec.Meta(ge=0, le=0.9)] = 0.25
    """The share of each batch's positive rows, and of its negative rows, kept for the user's own clips of that
    class when there are any; 0 leaves it to `user_clip_weight`."""
    user_counterparts: bool = True
    """Cut negatives from the user's positive takes (the room around the phrase, its first and last part alone, the
    speech reversed and shuffled), so that the user's voice and room appear on both sides and count as their own."""

    def __post_init__(self) -> None:
        if self.window_s is None:
            # Resolved here, so that the stored config and everything after it read one number.
            msgspec.structs.force_setattr(self, "window_s", DEFAULT_WINDOW_S[self.architecture])
        shortest = STREAMING_MIN_WINDOW_S[self.preset]
        if self.architecture == "streaming" and self.window_s < shortest:
            # msgspec reports a ValueError raised here as a ValidationError, which resolve_config turns into a 422.
            raise ValueError(
                f"the streaming {self.preset} network needs window_s >= {shortest:g}, got {self.window_s:g}"
            )


class ConfigError(ValueError):
    """An override that names no setting or has a bad value; the message says which and why."""


class PresetError(ConfigError):
    """WAKE_TRAINING_PRESETS cannot be used; the one-line message names the preset and the field."""


class PresetDefinition(msgspec.Struct, frozen=True, kw_only=True):
    """A named bundle of config values over the defaults, with a line that says what it is for."""

    name: str
    description: str
    source: Literal["built-in", "environment"]
    values: dict[str, Any]


def _built_in(name: str, description: str, values: dict[str, Any]) -> PresetDefinition:
    return PresetDefinition(name=name, description=description, source="built-in", values=values)


BUILT_IN_PRESETS: dict[str, PresetDefinition] = {
    preset.name: preset
    for preset in (
        _built_in(
            "tiny",
            "The tiny model (25k parameters) with the default steps: the lightest on a device.",
            {"preset": "tiny"},
        ),
        _built_in(
            "small",
            "The defaults: the small model (72k parameters) for 30 x 50 steps, about 4 minutes on two CPU cores.",
            {"preset": "small"},
        ),
        _built_in(
            "base",
            "The base model (329k parameters) with the default steps: more capacity, slower to run.",
            {"preset": "base"},
        ),
        _built_in(
            "quick",
            "The tiny model for 10 x 40 steps: a first model in about a minute, to try the phrase before a full run.",
            {"preset": "tiny", "epochs": 10, "steps_per_epoch": 40, "ema_decay": 0.98},
        ),
        _built_in(
            "windowed",
            "The small model as the centred network that scores a whole 1-s window every 0.1 s (the default until "
            "2026-12): about 3.5 times the CPU of the streaming default on a device.",
            {"preset": "small", "architecture": "windowed"},
        ),
        _built_in(
            "thorough",
            "The base model for 60 x 100 steps (four times the default's), more patience: for a GPU or a long wait.",
            {"preset": "base", "epochs": 60, "steps_per_epoch": 100, "patience": 15},
        ),
    )
}


def resolve_config(
    preset: str | None,
    overrides: dict[str, Any] | None,
    presets: Mapping[str, PresetDefinition] = BUILT_IN_PRESETS,
    *,
    base: Mapping[str, Any] | None = None,
) -> TrainingConfig:
    """Defaults, then `base` (a fine-tune's base job's config), then the named one of `presets`, then the user's
    overrides; raise ConfigError naming what is wrong."""
    known = set(TrainingConfig.__struct_fields__)
    # A base from another version may hold settings this one lacks: they did not shape its weights here.
    values: dict[str, Any] = {key: value for key, value in (base or {}).items() if key in known}
    if base is not None:
        values = {**LEGACY_SETTINGS, **values}
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r}; use one of: {', '.join(presets)}")
        values.update(presets[preset].values)
    overrides = overrides or {}
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


def load_presets(
    value: str | None, *, max_batch_audio_s: float, max_training_audio_h: float
) -> dict[str, PresetDefinition]:
    """The built-in presets with those of WAKE_TRAINING_PRESETS (a JSON object, or a .json or .toml file) over them.

    Each is checked as a user's overrides are, and against the work limits: PresetError says what is wrong.
    """
    presets = dict(BUILT_IN_PRESETS)
    if value is None or not value.strip():
        return presets
    for name, entry in _read_presets(value.strip()).items():
        preset = _environment_preset(name, entry)
        try:
            check_budget(
                resolve_config(name, None, {name: preset}),
                max_batch_audio_s=max_batch_audio_s,
                max_training_audio_h=max_training_audio_h,
            )
        except ConfigError as exc:
            raise PresetError(f"{PRESETS_SETTING}: preset {name!r}: {exc}") from None
        # An environment preset named like a built-in replaces it in place; new ones follow the built-ins.
        presets[name] = preset
    return presets


def _read_presets(value: str) -> dict[str, Any]:
    example = '{"night": {"description": "...", "config": {"epochs": 60}}}'
    if value.startswith(("{", "[")):
        source = "the value"
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise PresetError(f"{PRESETS_SETTING}: the value is not valid JSON: {exc}") from None
    else:
        path = Path(value).expanduser()
        suffix = path.suffix.lower()
        if suffix not in (".json", ".toml"):
            raise PresetError(
                f"{PRESETS_SETTING}: {value!r} is neither a JSON object nor the path of a .json or .toml file"
            )
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PresetError(f"{PRESETS_SETTING}: cannot read {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise PresetError(f"{PRESETS_SETTING}: cannot read {path}: it is not UTF-8 text") from None
        try:
            data = json.loads(text) if suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PresetError(f"{PRESETS_SETTING}: {path} is not valid {suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise PresetError(f"{PRESETS_SETTING}: {source} must be an object of presets by name, e.g. {example}")
    return data


def _environment_preset(name: str, entry: object) -> PresetDefinition:
    if not PRESET_NAME_RE.fullmatch(name):
        raise PresetError(f"{PRESETS_SETTING}: invalid preset name {name!r}: use {PRESET_NAME_RULE}")
    where = f"{PRESETS_SETTING}: preset {name!r}"
    if not isinstance(entry, dict):
        raise PresetError(f"{where}: must be an object with a 'description' and a 'config'")
    unknown = sorted(set(entry) - {"description", "config"})
    if unknown:
        raise PresetError(
            f"{where}: unknown field {', '.join(map(repr, unknown))}; a preset has 'description' and 'config'"
        )
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        raise PresetError(f"{where}: field 'description' is missing; give one line that says what the preset is for")
    if "\n" in description.strip() or len(description.strip()) > MAX_DESCRIPTION_CHARS:
        raise PresetError(
            f"{where}: field 'description' must be one line of at most {MAX_DESCRIPTION_CHARS} characters"
        )
    config = entry.get("config")
    if not isinstance(config, dict):
        raise PresetError(f"{where}: field 'config' must be an object of config values, e.g. {{\"epochs\": 60}}")
    try:
        resolve_config(None, config)
    except ConfigError as exc:
        raise PresetError(f"{where}: {exc}") from None
    return PresetDefinition(name=name, description=description.strip(), source="environment", values=config)


def check_finetune(
    config: TrainingConfig, base_config: Mapping[str, Any], base_front_end: str | None, base_job: object
) -> None:
    """Raise ConfigError when the config's model cannot start from the base's weights, saying which setting differs."""
    if (base_front_end or FRONT_END) != FRONT_END:
        raise ConfigError(
            f"base_job {base_job} heard another front end ({base_front_end}) than this version trains on "
            f"({FRONT_END}): its weights do not fit; train without base_job"
        )
    for key, what in FINETUNE_KEPT.items():
        wanted, kept = getattr(config, key), base_config.get(key, LEGACY_SETTINGS.get(key))
        if wanted != kept:
            raise ConfigError(
                f"base_job {base_job} has {what} {key}={kept!r} and this config asks for {key}={wanted!r}: a "
                f"fine-tune keeps its base's {what}; leave {key!r} out (or the preset that sets it), or train "
                "without base_job"
            )


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
