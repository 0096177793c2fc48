"""Running an exported model on a WAV file: window and threshold discovery, detections, the `detect` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf
from click.testing import CliRunner
from onnx import TensorProto, helper

from api.cli import main
from worker.detect import Detection, WakeWordDetector, detect_file, read_audio

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
RATE = 16_000
# The stand-in model fires when a window's RMS passes 0.2: a 0.5 s window needs 0.16 s of the 0.3 s burst.
K, C = 40.0, 0.2
BURST_AT_S, BURST_S = 4.0, 0.3


def loudness_model(path: Path, *, batch: int | str = "batch", samples: int | str = 8_000) -> Path:
    """An ONNX model `audio` [batch, samples] -> `probability` [batch] = sigmoid(K * (rms(window) - C))."""
    audio = helper.make_tensor_value_info("audio", TensorProto.FLOAT, [batch, samples])
    probability = helper.make_tensor_value_info("probability", TensorProto.FLOAT, [batch])
    nodes = [
        helper.make_node("Mul", ["audio", "audio"], ["power"]),
        helper.make_node("ReduceMean", ["power"], ["mean_power"], axes=[1], keepdims=0),
        helper.make_node("Sqrt", ["mean_power"], ["rms"]),
        helper.make_node("Sub", ["rms", "c"], ["centred"]),
        helper.make_node("Mul", ["centred", "k"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    constants = [
        helper.make_tensor("k", TensorProto.FLOAT, [], [K]),
        helper.make_tensor("c", TensorProto.FLOAT, [], [C]),
    ]
    graph = helper.make_graph(nodes, "loudness", [audio], [probability], initializer=constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def quiet_noise(seconds: float, *, rate: int = RATE, seed: int = 0) -> np.ndarray:
    return (0.01 * np.random.default_rng(seed).standard_normal(round(seconds * rate))).astype(np.float32)


def with_burst(audio: np.ndarray, *, rate: int = RATE) -> np.ndarray:
    """The audio with a loud 1 kHz tone from BURST_AT_S for BURST_S: the stand-in model's wake word."""
    audio = audio.copy()
    start, length = round(BURST_AT_S * rate), round(BURST_S * rate)
    t = np.arange(length) / rate
    audio[start : start + length] += 0.5 * np.sin(2 * np.pi * 1_000 * t).astype(np.float32)
    return audio


def write_wav(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return loudness_model(tmp_path / "export" / "model.onnx")


@pytest.fixture
def wake_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "wake.wav", with_burst(quiet_noise(10)))


def test_a_burst_at_four_seconds_is_detected_once_near_four_seconds(model: Path, wake_wav: Path) -> None:
    detections = detect_file(model, wake_wav)

    assert len(detections) == 1
    time_s, score = detections[0]
    assert abs(time_s - BURST_AT_S) <= 0.5
    assert 0.5 <= score <= 1.0


def test_ten_seconds_of_quiet_noise_give_no_detection(model: Path, tmp_path: Path) -> None:
    assert detect_file(model, write_wav(tmp_path / "quiet.wav", quiet_noise(10))) == []


def test_a_44_1_khz_stereo_file_is_resampled_and_detected_at_the_same_time(model: Path, tmp_path: Path) -> None:
    mono = with_burst(quiet_noise(10, rate=44_100), rate=44_100)
    stereo = write_wav(tmp_path / "stereo.wav", np.stack([mono, mono], axis=1), rate=44_100)

    audio = read_audio(stereo)
    detections = detect_file(model, stereo)

    assert audio.dtype == np.float32 and audio.shape == (160_000,)
    assert len(detections) == 1 and abs(detections[0].time_s - BURST_AT_S) <= 0.5


def test_the_window_comes_from_the_model_shape_then_config_json_then_one_second(tmp_path: Path) -> None:
    static = WakeWordDetector(loudness_model(tmp_path / "static" / "model.onnx", samples=8_000))
    dynamic_dir = tmp_path / "dynamic"
    dynamic_model = loudness_model(dynamic_dir / "model.onnx", samples="samples")
    bare = WakeWordDetector(dynamic_model)
    (dynamic_dir / "config.json").write_text(json.dumps({"preset": "tiny", "window_s": 0.75}))
    configured = WakeWordDetector(dynamic_model)

    assert (static.window_samples, static.window_source) == (8_000, "model input shape")
    assert (bare.window_samples, bare.window_source) == (16_000, "default")
    assert (configured.window_samples, configured.window_source) == (12_000, "config.json")


def test_a_model_with_dynamic_samples_detects_with_the_window_from_config_json(tmp_path: Path, wake_wav: Path) -> None:
    model = loudness_model(tmp_path / "dynamic" / "model.onnx", samples="samples")
    (model.parent / "config.json").write_text(json.dumps({"window_s": 0.5}))

    detections = detect_file(model, wake_wav)

    assert len(detections) == 1 and abs(detections[0].time_s - BURST_AT_S) <= 0.5


def test_a_model_with_a_fixed_batch_of_one_gives_the_same_detections(tmp_path: Path, wake_wav: Path) -> None:
    batch_one = loudness_model(tmp_path / "one" / "model.onnx", batch=1)
    dynamic = loudness_model(tmp_path / "any" / "model.onnx")
    audio = read_audio(wake_wav)

    np.testing.assert_allclose(
        WakeWordDetector(batch_one).scores(audio), WakeWordDetector(dynamic).scores(audio), atol=1e-6
    )


def test_the_threshold_comes_from_metrics_json_and_an_explicit_one_wins(model: Path, wake_wav: Path) -> None:
    assert WakeWordDetector(model).threshold_source == "default"
    assert WakeWordDetector(model).threshold == 0.5

    (model.parent / "metrics.json").write_text(json.dumps({"calibration": {"threshold": 0.999}}))
    assert WakeWordDetector(model).threshold == 0.999
    assert detect_file(model, wake_wav) == []

    (model.parent / "metrics.json").write_text(json.dumps({"threshold": 0.6, "calibration": {"threshold": 0.999}}))
    assert WakeWordDetector(model).threshold == 0.6
    assert len(detect_file(model, wake_wav)) == 1

    assert detect_file(model, wake_wav, threshold=0.999) == []
    assert WakeWordDetector(model, threshold=0.3).threshold_source == "given"


def test_a_held_wake_word_fires_again_only_after_the_refractory_period(model: Path, tmp_path: Path) -> None:
    # A burst three seconds long holds the score high: with no refractory period every hop would fire.
    audio = quiet_noise(10)
    audio[round(4 * RATE) : round(7 * RATE)] += 0.5 * np.sin(2 * np.pi * 1_000 * np.arange(3 * RATE) / RATE)
    wav = write_wav(tmp_path / "held.wav", audio)

    times = [d.time_s for d in detect_file(model, wav, refractory_s=2.0)]

    assert len(times) == 2
    assert times[1] - times[0] == pytest.approx(2.0)


def test_detect_cli_prints_each_detection_and_a_summary(model: Path, wake_wav: Path) -> None:
    result = CliRunner().invoke(main, ["detect", str(model), str(wake_wav)])

    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    match = re.fullmatch(r"(\d+\.\d{2})s  score (0\.\d{3}|1\.000)", lines[0])
    assert match and abs(float(match.group(1)) - BURST_AT_S) <= 0.5
    assert lines[1].startswith("1 detection in 10.0s of audio (threshold 0.500 from default")


def test_detect_cli_threshold_option_overrides_and_summary_says_none(model: Path, wake_wav: Path) -> None:
    result = CliRunner().invoke(main, ["detect", str(model), str(wake_wav), "--threshold", "0.999"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("0 detections in 10.0s of audio (threshold 0.999 from given")


def test_detect_cli_mic_without_sounddevice_is_a_clear_error(model: Path) -> None:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):
        pass
    else:
        pytest.skip("sounddevice is installed: live mode would open the microphone")

    result = CliRunner().invoke(main, ["detect", str(model), "--mic"])

    assert result.exit_code == 2
    assert "sounddevice" in result.output


def test_detect_cli_needs_a_file_or_mic(model: Path, wake_wav: Path) -> None:
    assert CliRunner().invoke(main, ["detect", str(model)]).exit_code == 2
    assert CliRunner().invoke(main, ["detect", str(model), str(wake_wav), "--mic"]).exit_code == 2


def test_detect_runs_without_torch_as_a_module(model: Path, wake_wav: Path) -> None:
    # What an edge device runs: `python -m worker.detect` must never import torch.
    script = (
        "import sys, runpy\n"
        "sys.argv = ['worker.detect', sys.argv[1], sys.argv[2]]\n"
        "try:\n"
        "    runpy.run_module('worker.detect', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(model), str(wake_wav)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert re.match(r"4\.\d{2}s  score ", result.stdout)
    assert "1 detection in 10.0s" in result.stdout


def test_detections_are_named_tuples_of_time_and_score() -> None:
    detection = Detection(4.2, 0.97)

    assert tuple(detection) == (4.2, 0.97)
