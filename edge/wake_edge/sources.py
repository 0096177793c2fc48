"""Where the audio comes from: a WAV file, raw PCM16 on stdin, or a microphone; each as 16 kHz mono float32 blocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from wyoming.audio import AudioChunk, AudioChunkConverter

from wake_edge.audio import SAMPLE_RATE, pcm16_to_float, read_wav

BLOCK = 1_600  # one hop: a live source hands each hop to the detector as soon as it is heard


class MicrophoneUnavailable(RuntimeError):
    """The microphone needs the optional `sounddevice` package (`pip install wake-training-edge[mic]`) and PortAudio."""


def wav_blocks(path: str | Path, block: int = BLOCK) -> Iterator[np.ndarray]:
    """A sound file (any rate, any channels) as 16 kHz mono blocks."""
    audio = read_wav(path)
    for start in range(0, audio.size, block):
        yield audio[start : start + block]


def stdin_blocks(stream: BinaryIO, block: int = BLOCK) -> Iterator[np.ndarray]:
    """Raw little-endian PCM16, 16 kHz mono (e.g. `arecord -f S16_LE -r 16000 -c 1 -t raw`), until end of file."""
    carry = b""
    while True:
        data = stream.read(block * 2)
        if not data:
            return
        data, carry = carry + data, b""
        if len(data) % 2:
            data, carry = data[:-1], data[-1:]
        if data:
            yield pcm16_to_float(data)


def mic_blocks(device: int | str | None = None, block: int = BLOCK) -> Iterator[np.ndarray]:
    """The microphone at 16 kHz mono, one block per hop, until the caller stops iterating."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there but PortAudio is not
        raise MicrophoneUnavailable(
            f"the microphone needs the `sounddevice` package and PortAudio ({exc}): "
            "pip install 'wake-training-edge[mic]' (and apt install libportaudio2)"
        ) from exc
    with sounddevice.InputStream(
        samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=block, device=device
    ) as stream:
        while True:
            frames, _overflowed = stream.read(block)
            yield np.ascontiguousarray(frames[:, 0])


class WyomingAudio:
    """Wyoming audio chunks of any rate, width and channels as 16 kHz mono float32 (16-bit in between)."""

    def __init__(self) -> None:
        # One converter per stream: resampling keeps state from one chunk to the next.
        self.converter = AudioChunkConverter(rate=SAMPLE_RATE, width=2, channels=1)

    def convert(self, chunk: AudioChunk) -> np.ndarray:
        """One chunk's samples."""
        return pcm16_to_float(self.converter.convert(chunk).audio)
