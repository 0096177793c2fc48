"""espeak-ng through ctypes: the process's one initialised library and `EspeakSynthesizer` over it."""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
from pathlib import Path

import numpy as np
import soxr

from worker.synthesis.audio import SAMPLE_RATE, trim_silence

RATE_RANGE_WPM = (80, 450)
PITCH_RANGE = (0, 99)
DEFAULT_RATE_WPM = 175
DEFAULT_PITCH = 50

# At espeak's default volume (100) a few variants clip their int16 output; 75 leaves headroom.
_VOLUME = 75
# Voices that are a writing system rather than an accent: for Latin text they repeat another voice.
_SCRIPT_VOICES = {"en-shaw"}

# espeak-ng's speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE, _ESPEAK_VOLUME, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 2, 3, 4
_EE_OK = 0
_PHONEMES_IPA = 0x02


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Espeak:
    """The process's libespeak-ng: loaded and initialised once, used under a lock (the library is not thread-safe)."""

    def __init__(self) -> None:
        import espeakng_loader

        self.data_path = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib = lib
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {self.data_path}")
        self._chunks: list[np.ndarray] = []
        # ctypes frees a callback whose Python object dies: keep it for the life of the library.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()
        self.voice_languages = self._list_voices()
        self.variant_names = sorted(p.name for p in (self.data_path / "voices" / "!v").iterdir() if p.is_file())

    def _collect(self, wav: ctypes._Pointer, n_samples: int, _events: int | None) -> int:
        if n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0

    def _list_voices(self) -> dict[str, list[str]]:
        """Voice id (the voice file's name, lower case: "en-us") -> the language codes it speaks."""
        voices: dict[str, list[str]] = {}
        listed = self.lib.espeak_ListVoices(None)
        for i in itertools.count():
            if not listed[i]:
                break
            voice = listed[i].contents
            # `languages` is a run of (priority byte, NUL-terminated code) pairs ended by a 0 priority.
            languages, address = [], voice.languages
            while ctypes.c_ubyte.from_address(address).value:
                code = ctypes.string_at(address + 1)
                languages.append(code.decode().lower())
                address += 2 + len(code)
            identifier = voice.identifier.decode()
            voice_id = identifier.rsplit("/", 1)[-1].lower()
            if voice_id not in _SCRIPT_VOICES and languages and self._has_dictionary(identifier, languages[0]):
                voices[voice_id] = languages
        return voices

    def _has_dictionary(self, identifier: str, language: str) -> bool:
        # A few voices (fo, kaa, xex) ship without their dictionary in the wheel and speak nothing.
        dictionary = language.split("-")[0]
        for folder in ("lang", "voices"):
            path = self.data_path / folder / identifier
            if path.is_file():
                for line in path.read_text(errors="replace").splitlines():
                    if line.split()[:1] == ["dictionary"] and len(line.split()) > 1:
                        dictionary = line.split()[1]
                break
        return (self.data_path / f"{dictionary}_dict").is_file()

    def synthesize(self, text: str, voice_name: str, *, rate_wpm: int, pitch: int) -> np.ndarray:
        """Raw int16 samples at `sample_rate`; call with `lock` held."""
        if self.lib.espeak_SetVoiceByName(voice_name.encode()) != _EE_OK:
            raise ValueError(f"espeak-ng has no voice {voice_name!r}")
        # Parameters survive across calls: set every one we use, every time.
        self.lib.espeak_SetParameter(_ESPEAK_RATE, rate_wpm, 0)
        self.lib.espeak_SetParameter(_ESPEAK_PITCH, pitch, 0)
        self.lib.espeak_SetParameter(_ESPEAK_RANGE, 50, 0)
        self.lib.espeak_SetParameter(_ESPEAK_VOLUME, _VOLUME, 0)
        data = text.encode()
        self._chunks = []
        status = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        chunks, self._chunks = self._chunks, []
        if status != _EE_OK:
            raise RuntimeError(f"espeak-ng failed to synthesize {text!r} (status {status})")
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def phonemes(self, text: str, voice_name: str) -> list[str]:
        """IPA phonemes of each clause of `text` as `voice_name` reads it; call with `lock` held."""
        if self.lib.espeak_SetVoiceByName(voice_name.encode()) != _EE_OK:
            raise ValueError(f"espeak-ng has no voice {voice_name!r}")
        # espeak-ng advances the pointer clause by clause and sets it to NULL after the last one.
        cursor = ctypes.c_char_p(text.encode())
        clauses = []
        while cursor.value:
            clauses.append(
                (
                    self.lib.espeak_TextToPhonemes(ctypes.byref(cursor), _ESPEAK_CHARS_UTF8, _PHONEMES_IPA) or b""
                ).decode()
            )
        return clauses


_espeak: _Espeak | None = None
_espeak_lock = threading.Lock()


def _library() -> _Espeak:
    global _espeak
    with _espeak_lock:
        if _espeak is None:
            _espeak = _Espeak()
        return _espeak


def _after_fork_in_child() -> None:
    # A fork taken while another thread synthesized would leave the child's copy of the lock held forever.
    global _espeak_lock
    _espeak_lock = threading.Lock()
    if _espeak is not None:
        _espeak.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class EspeakSynthesizer:
    """Speech from espeak-ng in one language; every instance shares the process's one initialised library."""

    def __init__(self, language: str = "en") -> None:
        self._espeak = _library()
        self.language = language.lower()
        self.voices(self.language)  # raises ValueError for a language espeak-ng does not speak

    @property
    def default_voice(self) -> str:
        """The language's own voice (e.g. "en" for "en", "de" for "de"), else its first accent."""
        voices = self.voices()
        return self.language if self.language in voices else voices[0]

    def languages(self) -> list[str]:
        """Every language code some espeak-ng voice speaks."""
        return sorted({code for codes in self._espeak.voice_languages.values() for code in codes})

    def voices(self, language: str | None = None) -> list[str]:
        """The espeak-ng voices (accents) for a language, e.g. en, en-029, en-gb-scotland, en-us for "en"."""
        language = (language or self.language).lower()
        found = [
            voice
            for voice, codes in self._espeak.voice_languages.items()
            if any(code == language or code.startswith(language + "-") for code in codes)
        ]
        if not found:
            raise ValueError(
                f"espeak-ng has no voice for language {language!r}; available: {', '.join(self.languages())}"
            )
        return sorted(found)

    def variants(self) -> list[str]:
        """The voice variants (timbres such as m3, f2, whisper) that combine with any voice."""
        return list(self._espeak.variant_names)

    def speak(
        self,
        text: str,
        *,
        voice: str | None = None,
        variant: str | None = None,
        rate_wpm: int = DEFAULT_RATE_WPM,
        pitch: int = DEFAULT_PITCH,
    ) -> np.ndarray:
        """Speak `text`: float32 mono at 16 kHz, silence trimmed to ~50 ms margins."""
        if not text.strip():
            raise ValueError("nothing to speak: the text is empty")
        voice = (voice or self.default_voice).lower()
        if voice not in self._espeak.voice_languages:
            raise ValueError(f"espeak-ng has no voice {voice!r}; voices for {self.language!r}: {self.voices()}")
        if variant is not None and variant not in self._espeak.variant_names:
            # espeak-ng silently ignores an unknown variant; we would mislabel the speaker.
            raise ValueError(f"espeak-ng has no variant {variant!r}; see EspeakSynthesizer.variants()")
        if not RATE_RANGE_WPM[0] <= rate_wpm <= RATE_RANGE_WPM[1]:
            raise ValueError(f"rate_wpm must be within {RATE_RANGE_WPM[0]}-{RATE_RANGE_WPM[1]}, not {rate_wpm}")
        if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
            raise ValueError(f"pitch must be within {PITCH_RANGE[0]}-{PITCH_RANGE[1]}, not {pitch}")
        name = voice if variant is None else f"{voice}+{variant}"
        with self._espeak.lock:
            samples = self._espeak.synthesize(text, name, rate_wpm=rate_wpm, pitch=pitch)
        audio = samples.astype(np.float32) / 32768.0
        if self._espeak.sample_rate != SAMPLE_RATE and audio.size:
            audio = soxr.resample(audio, self._espeak.sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
        trimmed = trim_silence(audio)
        if trimmed.size == 0:
            raise ValueError(f"espeak-ng produced no audible speech for {text!r}")
        return trimmed

    def phonemes(self, text: str, voice: str | None = None) -> list[str]:
        """The IPA phonemes of each clause of `text` as UTF-8 text, one string a clause (what Piper voices read)."""
        voice = (voice or self.default_voice).lower()
        if voice not in self._espeak.voice_languages:
            raise ValueError(f"espeak-ng has no voice {voice!r}; voices for {self.language!r}: {self.voices()}")
        with self._espeak.lock:
            return self._espeak.phonemes(text, voice)

    def seed(self, seed: int) -> None:
        """Seed espeak-ng's own noise generator (breathy variants use it)."""
        with self._espeak.lock:
            self._espeak.lib.espeak_ng_SetRandSeed(seed)
