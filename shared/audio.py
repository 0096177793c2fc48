"""Decoding, validation and normalization of uploaded clips to 16 kHz mono PCM16 WAV."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from shared import clip_fingerprint
from shared.clip_quality import ClipQuality, measure

TARGET_SAMPLE_RATE = 16_000
SUPPORTED_CONTAINERS = {"WAV", "WAVEX", "RF64", "FLAC", "OGG"}
SUPPORTED_HINT = "upload WAV (PCM 8/16/24/32-bit or float), FLAC or OGG"


class AudioError(Exception):
    """An upload that cannot become a clip; `detail` tells the user what is wrong and what to do."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnsupportedAudio(AudioError):
    """The bytes are not audio in a format we take."""


class DamagedAudio(AudioError):
    """The container is one we take, but the audio in it is truncated, empty or unreadable."""


class DurationOutOfRange(AudioError):
    """The clip is shorter or longer than the configured limits."""


@dataclass(frozen=True)
class NormalizedClip:
    """A clip ready to store: the normalized WAV bytes and what we learned decoding the original."""

    wav_bytes: bytes
    sha256: str
    duration_s: float
    loudness_dbfs: float
    original_format: str
    original_sample_rate: int
    original_channels: int
    quality: ClipQuality
    fingerprint: bytes


def sniff_container(data: bytes) -> str | None:
    """The container named by the file's magic bytes (not its name), or None when it is none we know."""
    head = data[:12]
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "OGG"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "MP3"
    return None


def _check_wav_chunks(data: bytes) -> None:
    """Reject a WAV whose data chunk claims more bytes than the file holds (a cut-off upload)."""
    if data[:4] != b"RIFF":
        return  # RF64 and big-endian RIFX: leave to libsndfile
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"data":
            available = len(data) - body
            # 0 and 0xFFFFFFFF are what streaming writers leave when they never learn the length.
            if size not in (0, 0xFFFFFFFF) and size > available:
                raise DamagedAudio(
                    f"the WAV is truncated: its header announces {size} bytes of audio but the file "
                    f"holds {available}; upload the complete file"
                )
            return
        offset = body + size + (size & 1)
    raise DamagedAudio("the WAV has no data chunk; upload a complete WAV file")


def normalize_clip(data: bytes, *, min_seconds: float, max_seconds: float) -> NormalizedClip:
    """Decode an uploaded file, validate it, and return it as 16 kHz mono PCM16 WAV bytes."""
    if not data:
        raise DamagedAudio("the file is empty (0 bytes); upload a clip with sound in it")
    container = sniff_container(data)
    if container == "MP3":
        raise UnsupportedAudio(f"MP3 is not supported (whatever the file is named); {SUPPORTED_HINT}")
    if container is None:
        raise UnsupportedAudio(f"the file is not audio we can read; {SUPPORTED_HINT}")
    if container == "WAV":
        _check_wav_chunks(data)

    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            fmt, subtype = f.format, f.subtype
            sample_rate, channels, frames = f.samplerate, f.channels, f.frames
            if fmt not in SUPPORTED_CONTAINERS:
                raise UnsupportedAudio(f"{fmt} audio is not supported; {SUPPORTED_HINT}")
            if frames <= 0 or sample_rate <= 0:
                raise DamagedAudio("the file contains no audio samples; upload a clip with sound in it")
            duration = frames / sample_rate
            _check_duration(duration, min_seconds, max_seconds)
            samples = f.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, struct.error) as exc:
        # libsndfile's message names the in-memory buffer; only its last part is the reason.
        reason = str(exc).rsplit(": ", 1)[-1].strip().rstrip(".")
        raise DamagedAudio(
            f"the {container} file could not be decoded ({reason}); it may be truncated or corrupt"
        ) from exc

    if samples.shape[0] < frames:
        raise DamagedAudio(f"the {container} file is truncated: {samples.shape[0]} of {frames} samples could be read")
    if not np.isfinite(samples).all():
        raise DamagedAudio("the file holds NaN or infinite samples; re-export it as PCM")

    mono = samples.mean(axis=1, dtype=np.float32)
    if sample_rate != TARGET_SAMPLE_RATE:
        mono = soxr.resample(mono, sample_rate, TARGET_SAMPLE_RATE, quality="HQ").astype(np.float32)
    mono = np.clip(mono, -1.0, 1.0)
    pcm = np.round(mono * 32767.0).astype(np.int16)
    if pcm.size == 0:
        raise DamagedAudio("the file contains no audio samples; upload a clip with sound in it")

    out = io.BytesIO()
    sf.write(out, pcm, TARGET_SAMPLE_RATE, format="WAV", subtype="PCM_16")
    wav_bytes = out.getvalue()
    # Measured on the stored samples, as a reader of the file would hear them; its RMS level is the loudness.
    stored = pcm.astype(np.float32) / 32768.0
    quality = measure(stored, TARGET_SAMPLE_RATE)
    return NormalizedClip(
        wav_bytes=wav_bytes,
        sha256=hashlib.sha256(wav_bytes).hexdigest(),
        duration_s=round(pcm.size / TARGET_SAMPLE_RATE, 4),
        loudness_dbfs=quality.rms_dbfs,
        original_format=f"{fmt}/{subtype}",
        original_sample_rate=sample_rate,
        original_channels=channels,
        quality=quality,
        fingerprint=clip_fingerprint.compute(stored, TARGET_SAMPLE_RATE),
    )


def _check_duration(duration: float, min_seconds: float, max_seconds: float) -> None:
    if duration < min_seconds:
        raise DurationOutOfRange(f"the clip is {duration:.3f} s long; clips must be at least {min_seconds:g} s")
    if duration > max_seconds:
        raise DurationOutOfRange(
            f"the clip is {duration:.1f} s long; clips may be at most {max_seconds:g} s "
            "(cut long recordings into clips first)"
        )
