"""The bundle manifest a deployment serves: which model file, its checksum, and the detection rule to run it with."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from wake_edge.contract import check_contract

SAMPLE_RATE = 16_000
DEFAULT_HOP_S = 0.1
DEFAULT_REFRACTORY_S = 1.0
DEFAULT_NEAR_MISS_RATIO = 0.7


class ManifestError(ValueError):
    """The manifest JSON misses a field or has one of the wrong type or range."""


@dataclass(frozen=True)
class ModelRef:
    """Where the model file is and what it must hash to."""

    precision: str
    sha256: str
    size_bytes: int
    url: str


@dataclass(frozen=True)
class Manifest:
    """One version of a deployment, as `GET /deployments/{name}/bundle` describes it."""

    deployment: str
    version: int
    threshold: float
    model: ModelRef
    window_s: float | None = None
    hop_s: float = DEFAULT_HOP_S
    refractory_s: float = DEFAULT_REFRACTORY_S
    near_miss_ratio: float = DEFAULT_NEAR_MISS_RATIO
    report_audio: bool = False
    phrase: str = ""
    job_id: str = ""
    dataset: str = ""
    updated_at: str = ""
    language: str | None = None
    streaming: dict[str, Any] | None = None
    """The streaming contract when the model file is a streaming graph (model.streaming.onnx)."""

    @property
    def label(self) -> str:
        """`v3 (1a2b3c4d)`: how logs name this version."""
        return f"v{self.version} ({self.model.sha256[:8]})"

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON again, to keep beside the installed model."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """Read and check a manifest; ManifestError says which field is wrong."""
        if not isinstance(data, dict):
            raise ManifestError("the manifest is not a JSON object")
        model = data.get("model")
        if not isinstance(model, dict):
            raise ManifestError("the manifest has no `model` object")
        sha256 = _text(model, "sha256")
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower()):
            raise ManifestError(f"model.sha256 {sha256!r} is not a sha256 hex digest")
        size = model.get("size_bytes")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ManifestError(f"model.size_bytes {size!r} is not a positive integer")
        rate = data.get("sample_rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise ManifestError(f"sample_rate {rate!r}: this runtime runs 16000 Hz models only")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ManifestError(f"version {version!r} is not a positive integer")
        window_s = data.get("window_s")
        streaming = data.get("streaming")
        if streaming is not None:
            try:
                streaming = check_contract(streaming)
            except ValueError as exc:
                raise ManifestError(f"`streaming`: {exc}") from None
        return cls(
            deployment=_text(data, "deployment"),
            version=version,
            threshold=_number(data, "threshold", low=0.0, open_low=False),
            model=ModelRef(
                precision=str(model.get("precision") or ""),
                sha256=sha256.lower(),
                size_bytes=size,
                url=_text(model, "url"),
            ),
            window_s=None if window_s is None else _number(data, "window_s", low=0.0),
            hop_s=_number(data, "hop_s", DEFAULT_HOP_S, low=0.0),
            refractory_s=_number(data, "refractory_s", DEFAULT_REFRACTORY_S, low=0.0, open_low=False),
            near_miss_ratio=_number(data, "near_miss_ratio", DEFAULT_NEAR_MISS_RATIO, low=0.0, high=1.0),
            report_audio=data.get("report_audio") is True,
            phrase=str(data.get("phrase") or ""),
            job_id=str(data.get("job_id") or ""),
            dataset=str(data.get("dataset") or ""),
            updated_at=str(data.get("updated_at") or ""),
            language=str(data["language"]) if data.get("language") else None,
            streaming=streaming,
        )

    @classmethod
    def from_saved(cls, data: Any) -> Manifest:
        """A manifest as to_json wrote it into the state directory."""
        if isinstance(data, dict) and isinstance(data.get("model"), dict):
            data = {**data, "sample_rate": SAMPLE_RATE}
        return cls.from_json(data)


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ManifestError(f"`{key}` is missing or not a string")
    return value


def _number(
    data: dict[str, Any],
    key: str,
    default: float | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = True,
) -> float:
    value = data.get(key, default)
    if value is None and default is not None:
        value = default
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ManifestError(f"`{key}` {value!r} is not a number")
    too_low = low is not None and (value <= low if open_low else value < low)
    if too_low or (high is not None and value > high):
        raise ManifestError(f"`{key}` {value!r} is out of range")
    return float(value)
