"""The streaming model: each new 30 ms scored once, with the windowed model's scores, detections and timing.

A streaming export carries model.streaming.onnx (and its int8 form): new audio and the previous call's states in,
one probability per step and the next states out. Its score at a step must be the windowed model's score on the
window that ends there, so that the threshold a job calibrates holds for what runs on a device.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from shared.training_config import ConfigError, TrainingConfig, resolve_config
from tests.tone_model import RATE, THRESHOLD, export_tone_model, quiet, tone_model, with_tone
from worker.training import streaming
from worker.training.export import export_model
from worker.training.model import build_model, parameter_count
from worker.training.stream_export import CHUNK_STEPS, covered_samples, step_samples, windowed_step_scores
from worker.training.stream_net import STREAM_ARCHITECTURES, pool_frames
from worker.training.stream_runtime import StreamScorer, streaming_contract

pytestmark = pytest.mark.unit

STEP_S = 0.03


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped by a slow random envelope and a moving buzz: audio whose log-mel changes every frame."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    pitch = 2 * np.pi * np.cumsum(110 + 40 * np.sin(2 * np.pi * 0.7 * t)) / RATE
    buzz = sum(np.sin(h * pitch) / h for h in range(1, 20))
    knots = np.arange(0, seconds + 0.5, 0.25)
    envelope = np.interp(t, knots, rng.uniform(0, 1, knots.size))
    return (0.2 * envelope * buzz + 0.02 * rng.standard_normal(n)).astype(np.float32)


def settled_model(preset: str, seed: int = 0):
    """A streaming model with random weights and batch-norm statistics of real-ish audio, in eval mode."""
    torch.manual_seed(seed)
    model = build_model(preset, "streaming").train()
    with torch.no_grad():
        for part in range(4):
            model(torch.from_numpy(speech_like(1.0 * 8, seed=part).reshape(8, RATE)))
    return model.eval()


@pytest.fixture(scope="module", params=["small"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    preset = request.param
    model = settled_model(preset)
    export_dir = tmp_path_factory.mktemp(f"stream-{preset}")
    check = speech_like(12.0, seed=9).reshape(12, RATE)
    files, figures = export_model(model, TrainingConfig(preset=preset, architecture="streaming"), export_dir, check)
    return model, export_dir, files, figures


def test_a_streaming_export_has_both_forms_and_its_contract_in_config_json(exported: tuple) -> None:
    model, export_dir, files, figures = exported
    assert {"model.onnx", "model.streaming.onnx", "model.streaming.int8.onnx", "config.json"} <= set(files)
    contract = json.loads((export_dir / "config.json").read_text())["streaming"]
    assert contract["step_samples"] == 480  # 30 ms
    assert contract["chunk_samples"] == CHUNK_STEPS * 480
    assert contract["window_samples"] == covered_samples(model.preset, RATE) <= RATE
    names = [state["input"] for state in contract["states"]]
    assert names[:2] == ["state_audio", "state_stem"]
    assert len(names) == len(set(names)) == 2 + len(STREAM_ARCHITECTURES[model.preset].blocks) + 1
    # The export checked the streaming graph against the windowed model on the check audio, and the int8 graph.
    assert 0 <= figures["parity_max_abs_diff_streaming"] <= 1e-4
    assert figures["parity_streaming_steps"] > 100
    assert figures["streaming_int8_max_abs_diff"] < 0.05


def test_the_int8_streaming_graph_keeps_its_log_mel_front_end_in_fp32(exported: tuple) -> None:
    import onnx

    _, export_dir, _, _ = exported
    nodes = onnx.load(str(export_dir / "model.streaming.int8.onnx")).graph.node
    dequantized = {name for node in nodes if node.op_type == "DequantizeLinear" for name in node.output}
    log = next(index for index, node in enumerate(nodes) if node.op_type == "Log")
    front_end = [node for node in nodes[: log + 1] if node.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    # In 8 bits, the power spectrum's ten decades collapse and scores stray by up to 1.0 (a trained model).
    assert len(front_end) > 5 and not any(set(node.input) & dequantized for node in front_end)
    assert any(set(node.input) & dequantized for node in nodes if node.op_type == "Conv" and "stem/" in node.name)


def test_each_streamed_score_is_the_windowed_score_of_the_window_ending_at_that_step(exported: tuple) -> None:
    model, export_dir, _, _ = exported
    audio = speech_like(20.0, seed=3)
    streamed = StreamScorer(export_dir, streaming_contract(export_dir)).scores(audio)
    assert streamed.size == -(-audio.size // 480)  # the last, partial step padded with silence
    indices, windowed = windowed_step_scores(model, RATE, audio, streamed.size)
    # Every step from the first whole window on.
    assert indices[0] == covered_samples(model.preset, RATE) // 480 and indices[-1] == streamed.size - 1
    assert np.max(np.abs(streamed[indices] - windowed)) <= 1e-4
    assert np.ptp(windowed) > 0.01  # the comparison is between scores that vary


def test_feeding_audio_in_any_pieces_gives_the_same_scores(exported: tuple) -> None:
    _, export_dir, _, _ = exported
    audio = speech_like(6.0, seed=4)
    scorer = StreamScorer(export_dir, streaming_contract(export_dir))
    whole = scorer.scores(audio)
    scorer.reset()
    cuts = np.sort(np.random.default_rng(0).choice(audio.size, 40, replace=False))
    pieces = np.concatenate([scorer.feed(piece) for piece in np.split(audio, cuts)])
    np.testing.assert_array_equal(pieces, whole[: pieces.size])
    assert pieces.size == audio.size // scorer.chunk_samples * CHUNK_STEPS


@pytest.fixture(scope="module")
def tone_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    export_dir = tmp_path_factory.mktemp("stream-tone")
    export_tone_model(export_dir, window_s=1.0, architecture="streaming")
    return export_dir


def test_on_a_60_s_stream_the_streaming_detections_are_the_windowed_models(tone_export: Path) -> None:
    audio = quiet(60.0, seed=2)
    onsets = [3.0, 9.71, 17.02, 30.333, 44.0, 58.5]
    for at_s in onsets:
        audio = with_tone(audio, at_s, seconds=0.25)
    streamed = StreamScorer(tone_export, streaming_contract(tone_export)).scores(audio)
    _, windowed = windowed_step_scores(tone_model("streaming"), RATE, audio, streamed.size)
    first = streamed.size - windowed.size
    rule = {"hop_s": STEP_S, "refractory_s": 1.0}
    found = streaming.count_detections(streamed[first:], THRESHOLD, **rule)
    expected = streaming.count_detections(windowed, THRESHOLD, **rule)
    assert found == expected
    times = [(first + index + 1) * STEP_S for index in found]
    assert len(times) == len(onsets)
    # Each fires as the tone's onset enters the newest frame: within a step and a frame of it.
    for at_s, time_s in zip(onsets, times, strict=True):
        assert 0 < time_s - at_s <= STEP_S + 0.025 + 1e-9


@pytest.mark.parametrize("offset_ms", [0, 7, 20])
def test_the_streaming_detector_fires_within_30_ms_of_the_windowed_models_first_crossing(
    tone_export: Path, offset_ms: int
) -> None:
    # The windowed model slid 10 ms at a time (one log-mel frame) is the finest it can be asked; the stream scores
    # every third of those positions.
    at_s = 2.0 + offset_ms / 1000
    audio = with_tone(quiet(4.0, seed=offset_ms), at_s, seconds=0.4)
    model = tone_model("streaming")
    covered = covered_samples("tiny", RATE)
    # Window ends on the frame grid (multiples of 10 ms), of which the stream's steps are every third.
    ends = np.arange(-(-covered // 160) * 160, audio.size + 1, 160)
    windows = np.zeros((ends.size, RATE), dtype=np.float32)
    for row, end in enumerate(ends):
        windows[row, :covered] = audio[end - covered : end]
    with torch.no_grad():
        fine = model(torch.from_numpy(windows)).numpy()
    windowed_s = ends[np.argmax(fine >= THRESHOLD)] / RATE
    streamed = StreamScorer(tone_export, streaming_contract(tone_export)).scores(audio)
    streamed_s = (np.argmax(streamed >= THRESHOLD) + 1) * STEP_S
    assert fine.max() >= THRESHOLD and streamed.max() >= THRESHOLD
    assert windowed_s <= streamed_s + 1e-9
    assert streamed_s - windowed_s < STEP_S


def test_the_streaming_networks_fit_their_size_limits_and_a_one_second_window() -> None:
    for preset, limit in (("tiny", 30_000), ("small", 100_000), ("base", 500_000)):
        assert parameter_count(build_model(preset, "streaming")) <= limit
        assert pool_frames(preset, RATE) >= 1
        assert step_samples(preset) == 480


@pytest.mark.parametrize("preset", ["tiny", "small", "base"])
def test_the_configs_shortest_streaming_window_is_the_networks(preset: str) -> None:
    from shared.training_config import STREAMING_MIN_WINDOW_S

    shortest = STREAMING_MIN_WINDOW_S[preset]
    assert pool_frames(preset, round(shortest * RATE)) >= 1
    with pytest.raises(ValueError, match="too short"):
        pool_frames(preset, round((shortest - 0.02) * RATE))
    with pytest.raises(ConfigError, match=f"streaming {preset} network needs window_s >= {shortest:g}"):
        resolve_config(None, {"preset": preset, "architecture": "streaming", "window_s": shortest - 0.02})
    assert (
        resolve_config(None, {"preset": preset, "architecture": "streaming", "window_s": shortest}).window_s == shortest
    )


def test_the_readmes_streaming_loop_runs_an_export_with_onnxruntime_alone(tone_export: Path, tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    import soundfile as sf

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"<!-- streaming-loop -->\n```python\n(.*?)```\n<!-- /streaming-loop -->", readme, re.S)
    assert block is not None
    script = tmp_path / "loop.py"
    script.write_text(block.group(1))
    assert "import torch" not in block.group(1) and "worker" not in block.group(1)
    audio = with_tone(with_tone(quiet(8.0, seed=5), 2.0, seconds=0.3), 5.5, seconds=0.3)
    sf.write(tmp_path / "two-tones.wav", audio, RATE, subtype="FLOAT")
    (tone_export / "metrics.json").write_text(json.dumps({"threshold": THRESHOLD}))
    done = subprocess.run(
        [sys.executable, str(script), str(tone_export), str(tmp_path / "two-tones.wav")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    times = [float(t) for t in re.findall(r"wake word at ([\d.]+) s", done.stdout)]
    assert len(times) == 2, done.stdout
    assert 2.0 < times[0] < 2.1 and 5.5 < times[1] < 5.6


def test_validation_scores_a_streaming_model_at_each_step_as_the_device_does() -> None:
    from worker.training.evaluate import scoring

    model = settled_model("tiny", seed=1)
    plan = scoring(model, torch.device("cpu"), RATE)
    assert plan.hop_s == pytest.approx(STEP_S)

    audio = speech_like(9.0, seed=6)
    indices, windowed = windowed_step_scores(model, RATE, audio, -(-audio.size // 480))
    np.testing.assert_allclose(plan.stream(audio), windowed, atol=1e-5, rtol=0)

    clips = [speech_like(seconds, seed=10 + i) for i, seconds in enumerate((0.4, 1.3, 2.2))]
    covered = covered_samples("tiny", RATE)
    for clip, highest in zip(clips, plan.clip_max(clips), strict=True):
        # Every window that starts inside the clip, silence after it, at the step grid.
        padded = np.concatenate([clip, np.zeros(covered + 480, dtype=np.float32)])
        indices, windowed = windowed_step_scores(model, RATE, padded, padded.size // 480)
        starts = (indices + 1) * 480 - covered
        assert highest == pytest.approx(windowed[starts < clip.size].max(), abs=1e-5)


def test_detect_runs_a_streaming_export_in_its_streaming_form_at_every_step(tone_export: Path) -> None:
    from worker.detect import WakeWordDetector

    detector = WakeWordDetector(tone_export / "model.onnx")
    assert detector.stream is not None
    assert detector.hop_s == pytest.approx(STEP_S) and detector.threshold == THRESHOLD
    audio = with_tone(with_tone(quiet(9.0, seed=8), 2.0, seconds=0.3), 6.52, seconds=0.3)
    found = detector.detect(audio)
    assert len(found) == 2
    for detection, at_s in zip(found, (2.0, 6.52), strict=True):
        assert 0 < detection.time_s - at_s <= STEP_S + 0.025 + 1e-9
    highest = detector.clip_max_scores([with_tone(quiet(1.5, seed=1), 1.2, seconds=0.25), quiet(1.5, seed=2)])
    assert highest[0] >= THRESHOLD > highest[1]
    # The windowed int8 graph of the same folder is still there to run, and it is run as a windowed model.
    assert WakeWordDetector(tone_export / "model.int8.onnx").stream is None
