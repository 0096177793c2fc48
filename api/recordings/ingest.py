"""Reading uploaded audio into clips: normalizing, refusing silence, naming, and writing the files."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from api.errors import InvalidInput, UnsupportedMediaType
from shared.audio import AudioError, NormalizedClip, UnsupportedAudio, normalize_clip
from shared.clip_quality import SILENT_PEAK_DBFS, quality_flags
from shared.settings import Settings
from shared.storage import Storage, atomic_write


@dataclass(frozen=True)
class Upload:
    """One file of a multipart upload."""

    filename: str | None
    data: bytes


def normalize_all(
    uploads: list[Upload], settings: Settings, *, max_seconds: float | None = None
) -> list[NormalizedClip]:
    """Every upload as 16 kHz mono PCM16 with its QA, or the first refusal (415 not audio we take, 422 damaged)."""
    normalized = []
    for index, upload in enumerate(uploads):
        try:
            normalized.append(
                normalize_clip(
                    upload.data,
                    min_seconds=settings.min_clip_seconds,
                    max_seconds=max_seconds or settings.max_clip_seconds,
                )
            )
        except UnsupportedAudio as exc:
            raise UnsupportedMediaType(
                f"{describe(upload, index)}: {exc.detail}; nothing was stored", file=upload.filename
            ) from None
        except AudioError as exc:
            raise InvalidInput(
                f"{describe(upload, index)}: {exc.detail}; nothing was stored", file=upload.filename
            ) from None
    return normalized


def describe(upload: Upload, index: int) -> str:
    """How an error names one file of an upload."""
    return f"file {index + 1} ({upload.filename!r})" if upload.filename else f"file {index + 1}"


def refuse_silence(uploads: list[Upload], normalized: list[NormalizedClip]) -> None:
    """Refuse the upload if any clip is silent (the caller skips this for clips labelled noise)."""
    for index, clip in enumerate(normalized):
        if "silent" in quality_flags(clip.quality, "positive"):
            raise InvalidInput(
                f"{describe(uploads[index], index)}: the clip is silent: its peak is {clip.quality.peak_dbfs:g} dBFS, "
                f"below {SILENT_PEAK_DBFS:g} dBFS; label it noise if that is what it is. Nothing was stored",
                file=uploads[index].filename,
            )


def base_filename(name: str | None) -> str | None:
    """The file name an upload gave, without any client-side folders."""
    if not name:
        return None
    # Keep only the base name: browsers and scripts sometimes send a client-side path.
    return name.replace("\\", "/").rsplit("/", 1)[-1][:255] or None


def write_all(paths: list[Path], blobs: list[bytes]) -> None:
    """Write each file atomically."""
    for path, blob in zip(paths, blobs, strict=True):
        atomic_write(path, blob)


def remove_empty_folders(storage: Storage, dataset: str) -> None:
    """Remove a dataset's folders if they are empty."""
    for folder in (storage.clips_dir(dataset), storage.trash_dir(dataset), storage.dataset_dir(dataset)):
        with contextlib.suppress(OSError):  # not empty (a new dataset of that name), or already gone
            folder.rmdir()


def remove_all(paths: list[Path]) -> None:
    """Remove the files that exist of these."""
    for path in paths:
        path.unlink(missing_ok=True)
