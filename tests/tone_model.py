"""A real exported wake-word model that fires on a 1 kHz tone: the tiny network with its weights set by hand.

Training one would make the tests hang on a training trajectory. Instead the tiny WakeWordModel passes the log-mel
band around 1 kHz straight through its layers (identity batch norms, one selected channel, residual paths) to a
head on its maximum over time, and goes through the same export as a trained job (`export_model`: ONNX, int8,
TorchScript, parity checks). The graph's operators are therefore exactly those of every model a job ships.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from shared.storage import Storage
from shared.training_config import TrainingConfig, config_to_dict

RATE = 16_000
TONE_HZ = 1_000.0
# A loud tone puts about 8 into its mel band's log power; quiet noise about -3 and digital silence -13.8.
LOG_POWER_FLOOR = 2.0
SLOPE = 2.0
OFFSET = 4.0
THRESHOLD = 0.5
# Shorter than the 1 s default, so a page that ignored the job's window would score other windows; with a 0.3 s tone
# every window that hears it ends within 0.8 s, less than the 1 s refractory period: one tone, one detection.
WINDOW_S = 0.5


def tone_band() -> int:
    """The mel band whose centre is nearest TONE_HZ."""
    from worker.training.features import N_MELS, hz_to_mel, mel_to_hz

    centres = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(RATE / 2), N_MELS + 2))[1:-1]
    return int(np.argmin(np.abs(centres - TONE_HZ)))


def tone_model(architecture: str = "windowed") -> Any:
    """The tiny network of `architecture` in eval mode whose probability is sigmoid(2 * (max log power at 1 kHz - 2)
    - 4), the maximum over the frames its stem reads."""
    import torch
    from torch import nn

    from worker.training.model import build_model

    model = build_model("tiny", architecture).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv1d | nn.Linear):
                module.weight.zero_()
                if module.bias is not None:
                    module.bias.zero_()
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
                module.weight.fill_(1.0)
                module.bias.zero_()
        net = model.net
        # Channel 0 of the stem is the tone's band, less the floor; its ReLU drops everything quieter. The windowed
        # stem is centred (tap 1 of 3 is the frame itself); the streaming one reads the newest frame of its stride.
        stem = net.stem[0]
        stem.weight[0, tone_band(), stem.kernel_size[0] // 2 if architecture == "windowed" else -1] = 1.0
        net.stem[1].running_mean[0] = LOG_POWER_FLOOR
        # Blocks with zero convolutions are their residual path: identity, or a strided 1x1 conv kept on channel 0.
        for block in net.body:
            if isinstance(block.shortcut, nn.Sequential):
                block.shortcut[0].weight[0, 0, 0] = 1.0
        channels = net.head.in_features // 2
        net.head.weight[0, channels] = SLOPE  # the max over time of channel 0
        net.head.bias[0] = -OFFSET
    return model


def export_tone_model(
    export_dir: Path, *, window_s: float = WINDOW_S, architecture: str = "windowed"
) -> dict[str, Any]:
    """Export the tone model into `export_dir` as a training job would; returns the job's config."""
    from worker.training.export import export_model

    config = TrainingConfig(preset="tiny", window_s=window_s, architecture=architecture)
    window = round(window_s * RATE)
    rng = np.random.default_rng(0)
    # Parity and int8 calibration windows: quiet noise, and noise with the tone in it.
    check = (0.01 * rng.standard_normal((16, window))).astype(np.float32)
    t = np.arange(window) / RATE
    check[::2] += (0.5 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    export_model(tone_model(architecture), config, export_dir, check)
    (export_dir / "metrics.json").write_text(json.dumps({"threshold": THRESHOLD}) + "\n")
    return config_to_dict(config)


def with_tone(audio: np.ndarray, at_s: float, seconds: float = 0.3, *, amplitude: float = 0.5) -> np.ndarray:
    """The audio with a 1 kHz tone from `at_s` for `seconds`: the tone model's wake word."""
    audio = audio.copy()
    start, length = round(at_s * RATE), round(seconds * RATE)
    t = np.arange(length) / RATE
    audio[start : start + length] += (amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    return audio


def quiet(seconds: float, *, seed: int = 0) -> np.ndarray:
    """Quiet noise (RMS 0.01) at 16 kHz, which the tone model scores near zero."""
    return (0.01 * np.random.default_rng(seed).standard_normal(round(seconds * RATE))).astype(np.float32)


def store_tone_model_job(database_url: str, data_dir: Path, dataset: str, *, architecture: str = "windowed") -> str:
    """A succeeded train job of `dataset` whose export is the tone model, as a worker leaves it; returns its id."""
    from shared.db.models import Job
    from shared.db.session import create_sync_db_engine, sync_session_factory
    from worker.jobs import JobStore

    job_id = uuid.uuid4()
    export_dir = Storage(data_dir).job_export_dir(job_id)
    # The streaming network reads windows of 0.85 s or more.
    config = export_tone_model(
        export_dir, architecture=architecture, window_s=WINDOW_S if architecture == "windowed" else 1.0
    )
    artifacts = [
        {"name": path.name, "size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        for path in sorted(export_dir.iterdir())
    ]
    engine = create_sync_db_engine(database_url)
    try:
        sessions = sync_session_factory(engine)
        with sessions() as session:
            session.add(
                Job(
                    id=job_id,
                    dataset_name=dataset,
                    kind="train",
                    status="running",
                    preset="tiny",
                    config=config,
                    clips=[],
                    snapshot_sha256="0" * 64,
                    attempts=1,
                )
            )
            session.commit()
        # The worker's own last step, so the job's event stream ends with job.succeeded as it does after training.
        JobStore(sessions, lambda message: None).succeed(job_id, 1, {"threshold": THRESHOLD}, artifacts)
    finally:
        engine.dispose()
    return str(job_id)
