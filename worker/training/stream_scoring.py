"""Scoring long audio with a streaming model in torch, one score per 30-ms step, as its streaming graph does.

Validation uses this for a streaming model, so that the false accepts per hour it calibrates on are counted at the
steps a device scores, not at the windowed detector's 100-ms hop. Each step's score is the windowed model's on the
window ending there (stream_export.py checks it), computed once per step rather than once per window position.
"""

from __future__ import annotations

import numpy as np
import torch

from worker.training.model import evaluating
from worker.training.stream_export import StreamingForm, contract, zero_states
from worker.training.stream_net import StreamingWakeWordModel
from worker.training.stream_runtime import first_whole_step

PIECE_STEPS = 2_000
"""Steps per call (60 s): long streams go through in pieces, their states carried, so memory stays flat."""
CLIP_BATCH = 64


def _first_whole_step(model: StreamingWakeWordModel, window_samples: int) -> int:
    stream = contract(model.preset, window_samples)
    return first_whole_step(stream.window_samples, stream.step_samples)


@torch.no_grad()
def _probabilities(model: StreamingWakeWordModel, window_samples: int, audio: torch.Tensor) -> torch.Tensor:
    """[batch, samples] from zero states to [batch, steps]; a last partial step is padded with silence."""
    stream = contract(model.preset, window_samples)
    step = stream.step_samples
    steps = -(-audio.shape[1] // step)
    audio = torch.nn.functional.pad(audio, (0, steps * step - audio.shape[1]))
    states = zero_states(stream, audio.shape[0], audio.device)
    parts = []
    for start in range(0, steps, PIECE_STEPS):
        count = min(PIECE_STEPS, steps - start)
        probabilities, *states = StreamingForm(model, window_samples, count)(
            audio[:, start * step : (start + count) * step], *states
        )
        parts.append(probabilities)
    return torch.cat(parts, dim=1) if parts else audio.new_zeros((audio.shape[0], 0))


def stream_step_scores(
    model: StreamingWakeWordModel, window_samples: int, audio: np.ndarray, device: torch.device
) -> np.ndarray:
    """The score of every step of a stream whose window is wholly inside it, in order."""
    first = _first_whole_step(model, window_samples)
    tensor = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None, :].to(device)
    with evaluating(model):
        scores = _probabilities(model, window_samples, tensor)
    return scores[0, first:].float().cpu().numpy()


def clip_max_step_scores(
    model: StreamingWakeWordModel, window_samples: int, clips: list[np.ndarray], device: torch.device
) -> np.ndarray:
    """Each clip's highest step score, over every window that starts inside it (silence after the clip), as
    streaming.clip_max_scores slides the windowed model's."""
    stream = contract(model.preset, window_samples)
    first = _first_whole_step(model, window_samples)
    results = []
    for start in range(0, len(clips), CLIP_BATCH):
        group = clips[start : start + CLIP_BATCH]
        longest = max(clip.size for clip in group)
        # Silence after each clip up to a window past its end: windows that start in its last samples are scored.
        batch = np.zeros((len(group), longest + stream.window_samples), dtype=np.float32)
        for row, clip in enumerate(group):
            batch[row, : clip.size] = clip
        tensor = torch.from_numpy(batch).to(device)
        with evaluating(model):
            scores = _probabilities(model, window_samples, tensor)
        for row, clip in enumerate(group):
            # The last step whose window starts inside the clip.
            last = (clip.size - 1 + stream.window_samples) // stream.step_samples - 1
            results.append(float(scores[row, first : max(first, last) + 1].max()))
    return np.asarray(results, dtype=np.float32)
