"""Static int8 quantization of an exported graph: the network in 8 bits, the log-mel front end left in fp32."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def quantize_graph(source: Path, target: Path, feeds: Iterable[dict[str, np.ndarray]]) -> None:
    """Write `target`, the int8 form of the ONNX graph `source`, its activations calibrated on `feeds`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.rows, None)

    # The log-mel front end stays fp32: its power spectrum spans ten decades, which 8 bits cannot hold. The network
    # behind it gets int8 weights (per channel) and uint8 activations calibrated on real audio. Measured on the
    # small windowed model (one thread, x86): 0.23 ms a window against 0.36 for fp32, where dynamic quantization
    # took 0.50.
    front_end = front_end_nodes(onnx.load(str(source)))
    # onnxruntime logs a pre-processing suggestion through the root logger on every call.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_static(
            str(source),
            str(target),
            Feeds(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=front_end,
        )
    finally:
        root.setLevel(level)


def front_end_nodes(graph_model: object) -> list[str]:
    """The names of the nodes before the network's stem: the log-mel front end, whatever the export named them.

    The streaming graph computes its log-mel at the top level, not under /features/; matching that prefix alone
    left it in 8 bits, and its int8 scores strayed from the fp32 ones by up to 0.97.
    """
    names = [node.name for node in graph_model.graph.node]  # type: ignore[attr-defined]
    stem = next((index for index, name in enumerate(names) if "stem/" in name), None)
    if stem is None:
        raise ValueError("the graph has no stem node: cannot tell its front end from its network")
    return names[:stem]
