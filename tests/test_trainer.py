"""The training pipeline end to end on small synthetic clips: progress, stopping, reproducibility and export."""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf
import torch

from shared.training_config import TrainingConfig
from worker.training.data import split_validation
from worker.training.export import load_checkpoint
from worker.training.features import HOP, N_FFT, LogMel, mel_filterbank
from worker.training.model import WakeWordModel, parameter_count
from worker.training.trainer import TrainingClip, TrainingResult, TrainingStopped, train

pytestmark = pytest.mark.unit

RATE = 16_000
CONFIG = TrainingConfig(preset="tiny", epochs=2, steps_per_epoch=4, batch_size=8, seed=7)
PLOTS = {"training_curves.png", "detection_error_curve.png", "score_histograms.png"}
EXPORTED = {
    "model.pt",
    "model.torchscript.pt",
    "model.onnx",
    "model.int8.onnx",
    "model.streaming.onnx",
    "model.streaming.int8.onnx",
    "config.json",
    "metrics.json",
    *PLOTS,
}
EPOCH_METRICS = {"val_loss", "val_accuracy", "learning_rate", "clips_per_s", "eta_s"}
STREAMING_METRICS = {"val_frr", "val_fa_per_hour", "val_threshold", "val_roc_auc"}


def shared_cache() -> Path:
    """The session's training cache (tests/conftest.py), so the speech banks are made once, not per run."""
    return Path(os.environ["WAKE_TRAINING_CACHE_DIR"])


@dataclass
class RecordingHooks:
    """Hooks that remember every call and ask to stop after `stop_after` steps (never when None)."""

    stop_after: int | None = None
    progress_calls: list[dict] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)
    stop_checks: int = 0

    def progress(self, **kwargs: object) -> None:
        self.progress_calls.append(kwargs)

    def log(self, message: str, level: str = "info") -> None:
        self.messages.append((level, message))

    def should_stop(self) -> bool:
        self.stop_checks += 1
        return self.stop_after is not None and self.stop_checks > self.stop_after

    @property
    def losses(self) -> list[float]:
        return [call["loss"] for call in self.progress_calls]


def _clip_audio(kind: str, rng: np.random.Generator, seconds: float) -> np.ndarray:
    n = round(seconds * RATE)
    audio = 0.02 * rng.standard_normal(n)
    burst = round(0.4 * RATE)
    t = np.arange(burst) / RATE
    start = int(rng.integers(0, n - burst))
    if kind == "positive":
        # A rising chirp stands in for the wake word: its sweep is what a steady tone lacks.
        f0 = rng.uniform(500, 700)
        signal = np.sin(2 * np.pi * (f0 * t + 0.5 * 3000 * t**2))
    elif kind == "negative":
        signal = np.sin(2 * np.pi * rng.uniform(300, 3000) * t)
    else:
        signal = np.zeros(burst)
    audio[start : start + burst] += 0.3 * signal * np.hanning(burst)
    return audio.astype(np.float32)


def make_clips(directory: Path, *, positives: int = 12, negatives: int = 8, noise: int = 4) -> list[TrainingClip]:
    """Clips of 0.8-1.3 s written as 16 kHz PCM16 WAVs: chirps (positive), tones (negative) and bare noise."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    clips = []
    for kind, count in (("positive", positives), ("negative", negatives), ("noise", noise)):
        for i in range(count):
            path = directory / f"{kind}-{i}.wav"
            sf.write(path, _clip_audio(kind, rng, rng.uniform(0.8, 1.3)), RATE, subtype="PCM_16")
            clips.append(TrainingClip(clip_id=f"{kind}-{i}", path=path, label=kind, speaker=f"s{i % 3}"))
    return clips


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[TrainingClip]:
    return make_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def trained(
    clips: list[TrainingClip], tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainingResult, RecordingHooks, Path]:
    """One small run shared by the tests that only read its outcome."""
    hooks = RecordingHooks()
    export_dir = tmp_path_factory.mktemp("run") / "export"
    result = train(clips, CONFIG, export_dir, hooks, device="cpu", cache_dir=shared_cache())
    return result, hooks, export_dir


def test_progress_is_reported_once_per_epoch_with_finite_losses(trained: tuple) -> None:
    result, hooks, _ = trained
    assert [call["epoch"] for call in hooks.progress_calls] == [1, 2]
    assert [call["step"] for call in hooks.progress_calls] == [4, 8]
    assert all(call["epochs"] == 2 and call["total_steps"] == 8 for call in hooks.progress_calls)
    assert all(math.isfinite(loss) for loss in hooks.losses)
    assert all(
        set(call["metrics"]) == EPOCH_METRICS | STREAMING_METRICS and all(map(math.isfinite, call["metrics"].values()))
        for call in hooks.progress_calls
    )
    assert hooks.stop_checks == 8
    assert result.metrics["steps"] == 8
    assert result.metrics["final_loss"] == hooks.losses[-1]


def test_split_is_logged_and_holds_out_about_a_fifth_of_each_class(trained: tuple) -> None:
    result, hooks, _ = trained
    # The clips name three speakers, so whole speakers are held out: one of three, 8 of 24 clips here.
    train, val = int(result.metrics["train_clips"]), int(result.metrics["val_clips"])
    assert train + val == 24 and 4 <= val <= 8
    assert any(
        f"{train} clips for training" in message and f"{val} held out" in message for _, message in hooks.messages
    )
    assert any("speaker" in message for _, message in hooks.messages)
    labels = np.array([1] * 3 + [0] * 2)
    train_idx, val_idx = split_validation(labels, np.random.default_rng(0))
    assert sorted(labels[val_idx]) == [0, 1]
    assert sorted(labels[train_idx]) == [0, 1, 1]


# TorchScript is deprecated in torch 2.13 but is one of the formats the export promises.
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_export_writes_model_files_that_agree_on_raw_audio(trained: tuple) -> None:
    result, _, export_dir = trained
    assert set(result.files) == EXPORTED
    assert {path.name for path in export_dir.iterdir()} == EXPORTED
    assert json.loads((export_dir / "config.json").read_text())["preset"] == "tiny"
    for name in ("parity_max_abs_diff_onnx", "parity_max_abs_diff_torchscript"):
        assert 0 <= result.metrics[name] <= 1e-4

    model, checkpoint = load_checkpoint(export_dir / "model.pt")
    assert checkpoint["sample_rate"] == RATE
    assert checkpoint["window_samples"] == round(1.5 * RATE)  # the streaming network's default window
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, size=(3, checkpoint["window_samples"])).astype(np.float32)
    session = ort.InferenceSession(str(export_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    (onnx_probability,) = session.run(["probability"], {"audio": audio})
    with torch.no_grad():
        torch_probability = model(torch.from_numpy(audio)).numpy()
        scripted = torch.jit.load(str(export_dir / "model.torchscript.pt"))(torch.from_numpy(audio)).numpy()
    assert onnx_probability.shape == (3,)
    assert np.all((onnx_probability >= 0) & (onnx_probability <= 1))
    np.testing.assert_allclose(onnx_probability, torch_probability, atol=1e-4, rtol=0)
    np.testing.assert_allclose(scripted, torch_probability, atol=1e-4, rtol=0)


def test_same_seed_and_clips_give_the_same_losses(clips: list[TrainingClip], trained: tuple, tmp_path: Path) -> None:
    first, first_hooks, _ = trained
    hooks = RecordingHooks()
    again = train(clips, CONFIG, tmp_path / "export", hooks, device="cpu", cache_dir=shared_cache())
    assert hooks.losses == first_hooks.losses
    assert again.metrics["val_loss"] == first.metrics["val_loss"]


def test_stop_request_raises_training_stopped_and_exports_nothing(clips: list[TrainingClip], tmp_path: Path) -> None:
    hooks = RecordingHooks(stop_after=3)
    export_dir = tmp_path / "export"
    with pytest.raises(TrainingStopped):
        train(clips, CONFIG, export_dir, hooks, device="cpu", cache_dir=shared_cache())
    assert hooks.stop_checks == 4
    assert hooks.progress_calls == []
    assert not export_dir.exists() or not any(export_dir.iterdir())


def test_export_parity_failure_raises_and_leaves_no_model_files(
    clips: list[TrainingClip], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("worker.training.export.PARITY_TOLERANCE", -1.0)
    export_dir = tmp_path / "export"
    with pytest.raises(RuntimeError, match="export parity failed"):
        train(clips, CONFIG, export_dir, RecordingHooks(), device="cpu", cache_dir=shared_cache())
    assert list(export_dir.iterdir()) == []


def test_the_default_run_exports_its_streaming_form_and_a_windowed_run_does_not(
    clips: list[TrainingClip], trained: tuple, tmp_path: Path
) -> None:
    result, _, export_dir = trained
    assert 0 <= result.metrics["parity_max_abs_diff_streaming"] <= 1e-4
    contract = json.loads((export_dir / "config.json").read_text())["streaming"]
    assert contract["step_samples"] == 480
    # The detection-error curve counts false accepts at every 30-ms step, as the streaming graph scores them.
    metrics = json.loads((export_dir / "metrics.json").read_text())
    assert metrics["calibration"]["threshold"] == result.metrics["threshold"]
    model, _ = load_checkpoint(export_dir / "model.pt")
    assert type(model).__name__ == "StreamingWakeWordModel"

    config = msgspec.structs.replace(CONFIG, architecture="windowed", window_s=1.0)
    windowed_dir = tmp_path / "export"
    windowed = train(clips, config, windowed_dir, RecordingHooks(), device="cpu", cache_dir=shared_cache())
    assert set(windowed.files) == EXPORTED - {"model.streaming.onnx", "model.streaming.int8.onnx"}
    assert "streaming" not in json.loads((windowed_dir / "config.json").read_text())
    assert json.loads((windowed_dir / "metrics.json").read_text())["hop_s"] == pytest.approx(0.1)
    assert type(load_checkpoint(windowed_dir / "model.pt")[0]).__name__ == "WakeWordModel"


def test_a_streaming_checkpoint_of_an_earlier_layout_is_refused_not_misread(trained: tuple, tmp_path: Path) -> None:
    checkpoint = torch.load(trained[2] / "model.pt", weights_only=True)
    del checkpoint["stream_layout"]  # as the 2026-12-05 network saved it: same weights' shapes, other dilations
    torch.save(checkpoint, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="earlier layout"):
        load_checkpoint(tmp_path / "model.pt")


def test_training_without_negative_clips_is_refused(clips: list[TrainingClip], tmp_path: Path) -> None:
    positives = [clip for clip in clips if clip.label == "positive"]
    with pytest.raises(ValueError, match="positive and negative"):
        train(positives, CONFIG, tmp_path / "export", RecordingHooks(), device="cpu", cache_dir=shared_cache())
    assert not (tmp_path / "export").exists()


def test_log_mel_conv1d_matches_torch_stft() -> None:
    audio = torch.from_numpy(np.random.default_rng(2).uniform(-1, 1, size=(2, 12_345)).astype(np.float32))
    spectrum = torch.stft(
        audio, n_fft=N_FFT, hop_length=HOP, window=torch.hann_window(N_FFT), center=False, return_complex=True
    )
    reference_mel = torch.from_numpy(mel_filterbank()) @ spectrum.abs().pow(2)
    with torch.no_grad():
        mel = LogMel()(audio).exp() - 1e-6
    assert mel.shape == reference_mel.shape == (2, 40, 1 + (12_345 - N_FFT) // HOP)
    assert torch.max(torch.abs(mel - reference_mel) / reference_mel.abs().max()) <= 1e-4


@pytest.mark.parametrize(("preset", "limit"), [("tiny", 30_000), ("small", 100_000), ("base", 500_000)])
def test_preset_parameter_counts_stay_within_their_limits(preset: str, limit: int) -> None:
    assert parameter_count(WakeWordModel(preset)) <= limit


def test_metrics_json_holds_the_calibrated_threshold_and_the_detection_error_curve(trained: tuple) -> None:
    # The default network is validated at each 30-ms step of its streaming form, as a device runs it.
    assert json.loads((trained[2] / "metrics.json").read_text())["hop_s"] == pytest.approx(0.03)
    result, hooks, export_dir = trained
    report = json.loads((export_dir / "metrics.json").read_text())

    calibration = report["calibration"]
    assert set(calibration) - {"tail", "expected_fa_per_hour"} == {
        "threshold",
        "frr",
        "fa_per_hour",
        "target_fa_per_hour",
        "met_target",
        "method",
    }
    assert report["threshold"] == calibration["threshold"] == result.metrics["threshold"]
    assert calibration["target_fa_per_hour"] == 0.5
    curve = report["curve"]
    assert len(curve) > 10
    thresholds = [point["threshold"] for point in curve]
    assert thresholds == sorted(thresholds)
    fa = [point["fa_per_hour"] for point in curve]
    assert all(a >= b for a, b in itertools.pairwise(fa)), "FA/h never rises with the threshold"
    assert 0.0 <= result.metrics["val_frr"] <= 1.0
    assert report["negative_audio_s"] > 0
    assert any(message.startswith("threshold ") for _, message in hooks.messages)


def test_roc_auc_is_the_chance_a_positive_outscores_a_negative() -> None:
    from worker.training.evaluate import roc_auc

    labels = np.array([1, 1, 0, 0])
    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), labels) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.9, 0.8]), labels) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), labels) == 0.5


def test_the_int8_model_is_exported_and_close_to_fp32(trained: tuple) -> None:
    result, _, export_dir = trained
    assert (export_dir / "model.int8.onnx").stat().st_size == result.metrics["onnx_int8_bytes"]
    assert result.metrics["int8_max_abs_diff"] < 0.05
    assert result.metrics["int8_agreement_at_0_5"] >= 0.9
    # The network is quantized (QDQ pairs around its convolutions); the log-mel front end stays fp32.
    import onnx

    nodes = onnx.load(str(export_dir / "model.int8.onnx")).graph.node
    producer = {output: node.op_type for node in nodes for output in node.output}

    def dequantized_inputs(prefix: str) -> list[str]:
        return [
            node.name
            for node in nodes
            if node.name.startswith(prefix)
            and node.op_type in ("Conv", "MatMul")
            and any(producer.get(name) == "DequantizeLinear" for name in node.input)
        ]

    assert dequantized_inputs("/net/"), "the network's convolutions run on int8 values"
    assert dequantized_inputs("/features/") == [], "the log-mel front end stays fp32"


def test_exported_plots_are_png_images(trained: tuple) -> None:
    _, _, export_dir = trained
    for name in PLOTS:
        data = (export_dir / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000, name


def test_metrics_json_keeps_the_per_epoch_history_and_score_histograms(trained: tuple) -> None:
    _, hooks, export_dir = trained
    report = json.loads((export_dir / "metrics.json").read_text())
    assert [row["epoch"] for row in report["history"]] == [1, 2]
    assert [row["loss"] for row in report["history"]] == hooks.losses
    histograms = report["score_histograms"]
    assert len(histograms["edges"]) == len(histograms["positive_clips"]) + 1 == len(histograms["negative_windows"]) + 1
    assert sum(histograms["positive_clips"]) > 0 and sum(histograms["negative_windows"]) > 0


def test_training_stops_early_when_validation_stops_improving(
    clips: list[TrainingClip], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Validation that never changes: epoch 5, the first of the second half, stays the best, and `patience` epochs
    # later the run ends.
    monkeypatch.setattr("worker.training.trainer.binary_metrics", lambda *_: {"val_loss": 0.5, "val_accuracy": 0.5})
    real_evaluation = __import__("worker.training.evaluate", fromlist=["x"]).streaming_evaluation
    calls = []

    def flat_evaluation(*args: object, **kwargs: object) -> dict:
        calls.append(1)
        return {} if len(calls) <= 7 else real_evaluation(*args, **kwargs)

    monkeypatch.setattr("worker.training.validation.streaming_evaluation", flat_evaluation)
    hooks = RecordingHooks()
    config = TrainingConfig(preset="tiny", epochs=10, steps_per_epoch=2, batch_size=8, seed=7, patience=2)
    result = train(clips, config, tmp_path / "export", hooks, device="cpu", cache_dir=shared_cache())
    assert [call["epoch"] for call in hooks.progress_calls] == [1, 2, 3, 4, 5, 6, 7]
    assert result.metrics["best_epoch"] == 5 and result.metrics["epochs_run"] == 7
    assert any(message.startswith("early stop after epoch 7") for _, message in hooks.messages)


def test_hard_negative_weighting_counts_confident_false_accepts_more() -> None:
    from worker.training.objective import weighted_loss

    labels = torch.tensor([1.0, 0.0, 0.0])
    logits = torch.tensor([2.0, 3.0, -3.0])
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    assert torch.isclose(weighted_loss(logits, labels, 0.0), plain)
    # The negative scored at 0.95 gets weight 1 + 2 * 0.95; the one at 0.05 about 1.1; the positive 1.
    per_example = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    weights = torch.tensor(
        [1.0, 1 + 2 * torch.sigmoid(torch.tensor(3.0)).item(), 1 + 2 * torch.sigmoid(torch.tensor(-3.0)).item()]
    )
    expected = (per_example * weights).sum() / weights.sum()
    assert torch.isclose(weighted_loss(logits, labels, 2.0), expected)
    assert weighted_loss(logits, labels, 2.0) > plain


def test_a_short_validation_stream_raises_the_threshold_toward_its_tail_unless_it_rejects_most_positives() -> None:
    from worker.training.evaluate import HOP_S, REFRACTORY_S, _extrapolate_when_short
    from worker.training.streaming import calibrate_threshold, detection_error_curve

    # 100 s of negative windows whose logits have an exponential tail: the loudest is near 0.9, and the tail
    # predicts 0.5 FA/h only above about 0.994.
    logits = -6 + np.random.default_rng(0).exponential(1.0, size=1_000)
    negatives = 1 / (1 + np.exp(-logits))

    def calibrated(positives: np.ndarray) -> dict:
        curve = detection_error_curve(positives, negatives, hop_s=HOP_S, refractory_s=REFRACTORY_S, duration_s=100)
        observed = calibrate_threshold(curve, 0.5)
        assert observed["threshold"] < 0.95 and observed["frr"] == 0.0
        return _extrapolate_when_short(observed, curve, positives, negatives, 100, hop_s=HOP_S)

    confident = calibrated(np.full(20, 0.9999))
    assert confident["method"] == "extrapolated"
    assert 0.99 < confident["threshold"] < 0.999 and confident["frr"] == 0.0
    assert confident["expected_fa_per_hour"] == pytest.approx(0.5, rel=0.01)

    # A third of the positives at 0.98: the tail's threshold misses them, which is within TAIL_FRR_LIMIT.
    unsure = calibrated(np.array([0.9999] * 14 + [0.98] * 6))
    assert unsure["method"] == "extrapolated"
    assert unsure["threshold"] == confident["threshold"] and unsure["frr"] == pytest.approx(0.3)

    # Most positives at 0.98: the tail's threshold would miss them, so it stops at 0.98.
    hesitant = calibrated(np.array([0.9999] * 8 + [0.98] * 12))
    assert hesitant["method"] == "extrapolated, capped by FRR"
    assert hesitant["threshold"] == pytest.approx(0.98) and hesitant["frr"] == 0.0
    assert hesitant["expected_fa_per_hour"] > 0.5 and hesitant["met_target"] is False
    assert unsure["met_target"] is True


def test_with_the_users_own_takes_in_validation_the_threshold_is_capped_by_them_not_by_synthetic_voices() -> None:
    from worker.training.evaluate import HOP_S, REFRACTORY_S, _extrapolate_when_short
    from worker.training.streaming import calibrate_threshold, detection_error_curve

    # The same negatives as above: the tail asks for about 0.994, the observed threshold is near 0.9.
    logits = -6 + np.random.default_rng(0).exponential(1.0, size=1_000)
    negatives = 1 / (1 + np.exp(-logits))

    def calibrated(synthetic: list[float], takes: list[float]) -> dict:
        positives = np.array(synthetic + takes)
        curve = detection_error_curve(positives, negatives, hop_s=HOP_S, refractory_s=REFRACTORY_S, duration_s=100)
        observed = calibrate_threshold(curve, 0.5)
        assert observed["threshold"] < 0.95
        calibration = _extrapolate_when_short(
            observed, curve, positives, negatives, 100, hop_s=HOP_S, user_scores=np.array(takes)
        )
        return {**calibration, "observed": observed["threshold"]}

    # Most synthetic phrases at 0.98 would stop the rise there; the user's takes are heard above the tail's threshold.
    heard = calibrated([0.9999] * 6 + [0.98] * 12, [0.9999, 0.9999])
    assert heard["method"] == "extrapolated" and 0.99 < heard["threshold"] < 0.999
    assert heard["met_target"] is True
    # The synthetic voices would let it rise to the tail's threshold; the user's two takes stop it at the lower one.
    two = calibrated([0.9999] * 18, [0.98, 0.99])
    assert two["method"] == "extrapolated, capped by your takes"
    assert two["threshold"] == pytest.approx(0.98) and two["expected_fa_per_hour"] > 0.5
    # Held below the tail's threshold, the target is not met by the prediction, whatever the short audio showed.
    assert two["fa_per_hour"] == 0.0 and two["met_target"] is False
    # Of four takes, one (a quarter) may be missed: the threshold stops at the third best.
    assert calibrated([0.9999] * 18, [0.9999, 0.985, 0.98, 0.5])["threshold"] == pytest.approx(0.98)
    # Takes the model cannot tell from the room do not drag it below what the negatives showed.
    weak = calibrated([0.9999] * 18, [0.2, 0.3])
    assert weak["threshold"] == weak["observed"]
    # And the label says so: the takes did not set this threshold, the validation background did. One take of two
    # heard is still a miss of more than a quarter of them.
    floor = "not raised: more than a quarter of your held-out takes score below the observed threshold"
    assert weak["method"] == floor
    assert calibrated([0.9999] * 18, [0.9999, 0.3])["method"] == floor


def test_the_exported_weights_are_a_running_average_of_the_trained_ones(
    clips: list[TrainingClip], tmp_path: Path
) -> None:
    def exported(name: str, **changes: float) -> dict[str, torch.Tensor]:
        # No speech bank: the average is what is judged here, not the negatives.
        config = msgspec.structs.replace(CONFIG, background_speech_s=0, **changes)
        train(clips, config, tmp_path / name, RecordingHooks(), device="cpu", cache_dir=shared_cache())
        return load_checkpoint(tmp_path / name / "model.pt")[1]["state_dict"]

    first_step = exported("one-step", epochs=1, steps_per_epoch=1, ema_decay=0.0)
    last_step = exported("last-step", ema_decay=0.0)
    # An average that barely moves keeps the weights of its first step, whatever the later steps did.
    averaged = exported("averaged", ema_decay=0.999_999)
    for name, value in first_step.items():
        if value.is_floating_point():
            assert torch.allclose(averaged[name], value, atol=1e-4), name
    assert any(not torch.allclose(last_step[k], v, atol=1e-4) for k, v in first_step.items() if v.is_floating_point())


def test_the_quick_preset_is_the_tiny_model_with_fewer_steps_and_overrides_still_win() -> None:
    from shared.training_config import resolve_config

    quick = resolve_config("quick", None)
    assert quick.preset == "tiny" and quick.epochs * quick.steps_per_epoch < resolve_config(None, None).epochs * 50 / 3
    assert resolve_config("quick", {"epochs": 3}).epochs == 3
