"""Writing a trained model as PyTorch, TorchScript and ONNX files, and checking that all three agree."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from shared.training_config import FRONT_END, TrainingConfig, config_to_dict
from worker.training.features import SAMPLE_RATE
from worker.training.model import WakeModel, build_model
from worker.training.quantize import quantize_graph
from worker.training.stream_export import STREAM_ONNX, STREAM_ONNX_INT8, contract, export_streaming
from worker.training.stream_net import STREAM_LAYOUT, StreamingWakeWordModel
from worker.training.stream_runtime import STREAMING_KEY

CHECKPOINT = "model.pt"
TORCHSCRIPT = "model.torchscript.pt"
ONNX = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
CONFIG = "config.json"
PARITY_TOLERANCE = 1e-4
# Enough windows to exercise the graph on real audio without slowing the export of a large validation set.
PARITY_WINDOWS = 64
# The streaming graph is checked on one stream of this many validation windows end to end.
STREAM_PARITY_WINDOWS = 12


def export_model(
    model: WakeModel, config: TrainingConfig, export_dir: Path, check_windows: np.ndarray
) -> tuple[list[str], dict[str, float]]:
    """Write the model files into export_dir and check them on `check_windows`; returns (file names, parity figures)."""
    # A failed parity check raises RuntimeError and removes what was written: half-valid exports must not be shipped.
    model = copy.deepcopy(model).to("cpu").eval()
    window_samples = check_windows.shape[1]
    export_dir.mkdir(parents=True, exist_ok=True)
    names = [CHECKPOINT, TORCHSCRIPT, ONNX, ONNX_INT8, CONFIG]
    if isinstance(model, StreamingWakeWordModel):
        names[-1:-1] = [STREAM_ONNX, STREAM_ONNX_INT8]
    paths = [export_dir / name for name in names]
    try:
        _write(model, config, window_samples, export_dir)
        parity = _parity(model, export_dir, check_windows[:PARITY_WINDOWS])
        parity.update(_quantize(export_dir, check_windows[:PARITY_WINDOWS]))
        if isinstance(model, StreamingWakeWordModel):
            stream_audio = np.ascontiguousarray(check_windows[:STREAM_PARITY_WINDOWS], dtype=np.float32).reshape(-1)
            parity.update(export_streaming(model, window_samples, export_dir, stream_audio))
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise
    return [path.name for path in paths], parity


def _write(model: WakeModel, config: TrainingConfig, window_samples: int, export_dir: Path) -> None:
    config_dict = config_to_dict(config)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "config": config_dict,
            "sample_rate": SAMPLE_RATE,
            "window_samples": window_samples,
            "front_end": FRONT_END,
            **({"stream_layout": STREAM_LAYOUT} if isinstance(model, StreamingWakeWordModel) else {}),
        },
        export_dir / CHECKPOINT,
    )
    example = torch.zeros(2, window_samples)
    with torch.no_grad(), warnings.catch_warnings():
        # TorchScript and the legacy exporter are deprecated but are what the conv1d log-mel exports through
        # (FINDINGS.md); without the filter every job's log repeats the same five warnings.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(model, example).save(str(export_dir / TORCHSCRIPT))
        torch.onnx.export(
            model,
            (example,),
            str(export_dir / ONNX),
            dynamo=False,
            opset_version=17,
            input_names=["audio"],
            output_names=["probability"],
            dynamic_axes={"audio": {0: "batch"}, "probability": {0: "batch"}},
            external_data=False,
        )
    if isinstance(model, StreamingWakeWordModel):
        # What a runtime needs to drive model.streaming.onnx: tensor names, shapes, step and chunk.
        config_dict = {**config_dict, STREAMING_KEY: contract(model.preset, window_samples).to_dict()}
    (export_dir / CONFIG).write_text(json.dumps(config_dict, indent=2) + "\n")


def onnx_session(path: Path) -> ort.InferenceSession:
    """A CPU onnxruntime session using as many threads as torch has been given, not one per core."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _parity(model: WakeModel, export_dir: Path, windows: np.ndarray) -> dict[str, float]:
    audio = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = model(audio).numpy()
        scripted = torch.jit.load(str(export_dir / TORCHSCRIPT), map_location="cpu")(audio).numpy()
    onnx_out = onnx_session(export_dir / ONNX).run(["probability"], {"audio": audio.numpy()})[0]
    parity = {
        "parity_max_abs_diff_onnx": float(np.max(np.abs(onnx_out - reference))),
        "parity_max_abs_diff_torchscript": float(np.max(np.abs(scripted - reference))),
    }
    failed = {name: diff for name, diff in parity.items() if not diff <= PARITY_TOLERANCE}
    if failed:
        figures = ", ".join(f"{name}={diff:.3g}" for name, diff in failed.items())
        raise RuntimeError(
            f"export parity failed: {figures} over {len(windows)} windows (tolerance {PARITY_TOLERANCE})"
        )
    return parity


def _quantize(export_dir: Path, windows: np.ndarray) -> dict[str, float]:
    """Write the int8 ONNX (static, calibrated on the given windows) and report how far it is from the fp32 one."""
    audio = np.ascontiguousarray(windows, dtype=np.float32)
    quantize_graph(export_dir / ONNX, export_dir / ONNX_INT8, ({"audio": audio[i : i + 1]} for i in range(len(audio))))
    fp32 = onnx_session(export_dir / ONNX).run(["probability"], {"audio": audio})[0]
    int8 = onnx_session(export_dir / ONNX_INT8).run(["probability"], {"audio": audio})[0]
    return {
        "int8_max_abs_diff": float(np.max(np.abs(int8 - fp32))),
        "int8_agreement_at_0_5": float(np.mean((int8 >= 0.5) == (fp32 >= 0.5))),
        "onnx_bytes": float((export_dir / ONNX).stat().st_size),
        "onnx_int8_bytes": float((export_dir / ONNX_INT8).stat().st_size),
    }


def load_checkpoint(path: Path) -> tuple[WakeModel, dict]:
    """The model saved in a model.pt, in eval mode on CPU, and the checkpoint's other fields."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    # Checkpoints from before the streaming network have no architecture: they are windowed.
    model = build_model(checkpoint["config"]["preset"], checkpoint["config"].get("architecture", "windowed"))
    layout = checkpoint.get("stream_layout", 1)  # layout 1 saved none
    if isinstance(model, StreamingWakeWordModel) and layout != STREAM_LAYOUT:
        raise ValueError(
            f"{path} holds a streaming model of an earlier layout ({layout}, this version runs {STREAM_LAYOUT}): "
            "its weights do not fit these layers; train it again"
        )
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), checkpoint
