"""A deployment's bundles on the device: verify a downloaded model, install it atomically, keep the last good one."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wake_edge.manifest import Manifest, ManifestError
from wake_edge.model import Model, ModelError
from wake_edge.streaming_model import StreamingModel

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
CURRENT = "current"
PREVIOUS = "previous"
HASH_CHUNK = 1 << 20


class BundleError(Exception):
    """A bundle that must not be run: why, in one line (`sha256 mismatch: …`)."""


@dataclass(frozen=True)
class Bundle:
    """A verified model, loaded and ready, with the manifest it came with."""

    manifest: Manifest
    model: Model | StreamingModel
    path: Path


def verify(model_path: Path, manifest: Manifest) -> Model | StreamingModel:
    """Check size and sha256 against the manifest, load the model and score a silent window (a silent chunk, for a
    streaming model); BundleError if not."""
    expected = manifest.model
    size = model_path.stat().st_size
    if size != expected.size_bytes:
        what = "truncated" if size < expected.size_bytes else "too long"
        raise BundleError(f"size mismatch: {size} bytes, the manifest says {expected.size_bytes} ({what})")
    digest = file_sha256(model_path)
    if digest != expected.sha256:
        raise BundleError(f"sha256 mismatch: got {digest[:12]}…, the manifest says {expected.sha256[:12]}…")
    try:
        model: Model | StreamingModel
        if manifest.streaming is not None:
            model = StreamingModel(model_path, manifest.streaming)
        else:
            model = Model(model_path, window_s=manifest.window_s)
        model.check()
    except ModelError as exc:
        raise BundleError(f"not a usable ONNX model: {exc}") from exc
    return model


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def load_bundle_dir(folder: Path) -> Bundle:
    """A bundle folder (manifest.json + model.onnx), verified as on install."""
    try:
        manifest = Manifest.from_saved(json.loads((folder / MANIFEST_FILE).read_text()))
    except (OSError, ValueError, ManifestError) as exc:
        raise BundleError(f"{folder / MANIFEST_FILE} is unreadable: {exc}") from exc
    model_path = folder / MODEL_FILE
    if not model_path.is_file():
        raise BundleError(f"{model_path} is missing")
    return Bundle(manifest, verify(model_path, manifest), model_path)


class BundleStore:
    """One deployment's folder in the state directory: a folder per installed version, `current` and `previous`."""

    def __init__(self, state_dir: Path, deployment: str) -> None:
        self.root = Path(state_dir) / deployment
        self.root.mkdir(parents=True, exist_ok=True)

    def current(self) -> Bundle | None:
        """The last good bundle, checked again (a card can rot), or the one before it; None on a first start."""
        for pointer in (CURRENT, PREVIOUS):
            folder = self._pointed(pointer)
            if folder is None:
                continue
            try:
                return load_bundle_dir(folder)
            except BundleError as exc:
                log.warning("the installed bundle in %s is unusable (%s)", folder, exc)
        return None

    @contextlib.contextmanager
    def download_file(self) -> Iterator[Path]:
        """A temporary file beside the bundles (same file system, so installing it is a rename); removed after."""
        handle, name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=self.root)
        os.close(handle)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def install(self, manifest: Manifest, downloaded: Path) -> Bundle:
        """Verify a downloaded model, then make it current in one rename; the old current becomes `previous`."""
        model = verify(downloaded, manifest)
        final = self.root / f"v{manifest.version}-{manifest.model.sha256[:12]}"
        staging = Path(tempfile.mkdtemp(prefix=".install-", dir=self.root))
        try:
            os.replace(downloaded, staging / MODEL_FILE)
            _write_atomic(staging / MANIFEST_FILE, json.dumps(manifest.to_json(), indent=2).encode())
            _fsync_dir(staging)
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        old = self._pointed(CURRENT)
        if old is not None and old != final:
            _write_atomic(self.root / PREVIOUS, old.name.encode())
        _write_atomic(self.root / CURRENT, final.name.encode())
        self._prune(keep={final.name, old.name if old else ""})
        # The session read the model into memory before the move: it is the same bytes under the new name.
        return Bundle(manifest, model, final / MODEL_FILE)

    def _pointed(self, pointer: str) -> Path | None:
        try:
            name = (self.root / pointer).read_text().strip()
        except OSError:
            return None
        folder = self.root / name
        return folder if name and "/" not in name and folder.is_dir() else None

    def _prune(self, keep: set[str]) -> None:
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.name.startswith("v") and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)


def _write_atomic(path: Path, data: bytes) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened for fsync
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
