"""SVOX Pico through py-nanotts: `PicoSynthesizer` over the six voices the wheel ships."""

from __future__ import annotations

import ctypes
import math
from types import ModuleType

import numpy as np

from worker.synthesis.audio import trim_silence

SPEED_RANGE = (0.2, 5.0)
PITCH_RANGE = (0.5, 2.0)
DEFAULT_SPEED = 1.0
DEFAULT_PITCH = 1.0

# At Pico's full volume most utterances clip their int16 peaks; half of it peaks near -2 dBFS at the loudest.
_VOLUME = 0.5
# glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 128 * 1024


def _binding() -> ModuleType:
    try:
        import py_nanotts
    except ImportError as exc:
        raise RuntimeError("the Pico engine needs py-nanotts: pip install 'wake-training[worker]'") from exc
    return py_nanotts


def _pico_level(value: float) -> float:
    """`value` to Pico's steps of 0.01, nudged so that the binding's ceil(value * 100) lands on that step.

    Without the nudge 1.12 * 100 = 112.00000000000001 speaks at 1.13, and the speaker name would not say so.
    """
    level = round(value * 100)
    nudged = level / 100
    while math.ceil(nudged * 100) > level:
        nudged = math.nextafter(nudged, 0.0)
    return nudged


def zero_memory_per_call() -> bool:
    """Make every later Pico call start from zeroed memory, so its audio depends on its arguments alone (glibc only).

    Pico reads part of its 2.5 MB work area before writing it, and glibc's dynamic mmap threshold hands a freed
    block back with the previous utterance's data in it: an utterance then differs by a few LSB with what the
    process spoke before. A fixed threshold gives each such block fresh pages. It holds for the whole process,
    so only the synthesis child calls it.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES))


class PicoSynthesizer:
    """Speech from SVOX Pico in one language: one voice per accent, no variants, at 16 kHz.

    Each call builds its own Pico engine and holds the GIL throughout, so calls never overlap (thread-safe, not
    parallel). Within one process an utterance can differ by a few LSB (~-70 dB) with what was spoken before it
    (see `zero_memory_per_call`); otherwise the same arguments give the same audio.
    """

    def __init__(self, language: str = "en") -> None:
        self.language = language.lower()
        self.voices(self.language)  # raises ValueError for a language Pico does not speak

    @staticmethod
    def all_voices() -> list[str]:
        """Every Pico voice: de-DE, en-GB, en-US, es-ES, fr-FR, it-IT."""
        return sorted(voice.value for voice in _binding().Voice)

    @property
    def default_voice(self) -> str:
        """The language's first voice (en-GB for "en")."""
        return self.voices()[0]

    def languages(self) -> list[str]:
        """Every language code some Pico voice speaks."""
        return sorted({voice.split("-")[0].lower() for voice in self.all_voices()})

    def voices(self, language: str | None = None) -> list[str]:
        """The Pico voices for a language, e.g. en-GB and en-US for "en", en-US for "en-us"."""
        language = (language or self.language).lower()
        found = [v for v in self.all_voices() if v.lower() == language or v.lower().startswith(language + "-")]
        if not found:
            raise ValueError(f"Pico has no voice for language {language!r}; voices: {', '.join(self.all_voices())}")
        return found

    def speak(
        self, text: str, *, voice: str | None = None, speed: float = DEFAULT_SPEED, pitch: float = DEFAULT_PITCH
    ) -> np.ndarray:
        """Speak `text`: float32 mono at 16 kHz, silence trimmed to ~50 ms margins; speed and pitch in steps of 0.01."""
        if not text.strip():
            raise ValueError("nothing to speak: the text is empty")
        voice = voice or self.default_voice
        if voice not in self.all_voices():
            raise ValueError(f"Pico has no voice {voice!r}; voices: {', '.join(self.all_voices())}")
        # The binding clamps out-of-range values without a word; we would mislabel the speaker.
        if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
            raise ValueError(f"speed must be within {SPEED_RANGE[0]}-{SPEED_RANGE[1]}, not {speed}")
        if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
            raise ValueError(f"pitch must be within {PITCH_RANGE[0]}-{PITCH_RANGE[1]}, not {pitch}")
        tts = _binding().NanoTTS()
        pcm = tts.speak(text, voice=voice, speed=_pico_level(speed), pitch=_pico_level(pitch), volume=_VOLUME)
        # Pico speaks PCM16 at 16 kHz, our rate: nothing to resample.
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        trimmed = trim_silence(audio)
        if trimmed.size == 0:
            raise ValueError(f"Pico produced no audible speech for {text!r}")
        return trimmed
