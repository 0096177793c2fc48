"""Piper voices the user supplies as files: `PiperSynthesizer` reads text with espeak-ng's IPA and speaks it with
the voice's VITS network in onnxruntime (our own runner; the `piper-tts` package is not needed)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import soxr

from shared.piper_voices import PiperVoice, find_voices, voices_for
from worker.synthesis.audio import SAMPLE_RATE, trim_silence
from worker.synthesis.espeak import EspeakSynthesizer

# Piper's own defaults are 1.0, 0.667 and 0.8; the ranges around them still sound like speech.
LENGTH_SCALE_RANGE = (0.5, 2.0)
NOISE_SCALE_RANGE = (0.0, 1.5)
NOISE_W_RANGE = (0.0, 1.5)


class PiperSynthesizer:
    """Speech from the Piper voices in a folder that speak one language, at 16 kHz.

    onnxruntime draws the voice's noise from a generator each voice's session gets when it is made, from `seed`:
    the same calls in the same order give the same audio.
    """

    def __init__(self, language: str, folder: Path | None, *, seed: int = 0) -> None:
        self.language = language.lower()
        self.folder = folder
        self._seed = seed
        self._all = find_voices(folder)
        self.voices(self.language)  # raises ValueError when no voice there speaks the language
        self._espeak = EspeakSynthesizer(self.language.split("-")[0])
        self._sessions: dict[str, object] = {}
        self._lock = threading.Lock()

    def voices(self, language: str | None = None) -> list[str]:
        """The voices in the folder for a language: "en" finds en_US and en_GB voices, "en-us" only the first."""
        language = (language or self.language).lower()
        found = voices_for(language, self._all)
        if not found:
            where = f"in {self.folder}" if self.folder else "(no voices folder is set: WAKE_TRAINING_PIPER_VOICES_DIR)"
            raise ValueError(
                f"no Piper voice for language {language!r} {where}; voices there: {', '.join(self._all) or 'none'}"
            )
        return found

    def voice(self, name: str) -> PiperVoice:
        """The voice called `name` (its file name without .onnx)."""
        if name not in self._all:
            raise ValueError(f"no Piper voice {name!r}; voices: {', '.join(self._all) or 'none'}")
        return self._all[name]

    def speak(
        self,
        text: str,
        *,
        voice: str,
        speaker: int = 0,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w: float | None = None,
    ) -> np.ndarray:
        """Speak `text`: float32 mono at 16 kHz, silence trimmed to ~50 ms margins; unset scales: the voice's own."""
        if not text.strip():
            raise ValueError("nothing to speak: the text is empty")
        found = self.voice(voice)
        if not 0 <= speaker < found.speakers:
            raise ValueError(f"Piper voice {voice!r} has speakers 0-{found.speakers - 1}, not {speaker}")
        scales = [
            _in_range("noise_scale", found.noise_scale if noise_scale is None else noise_scale, NOISE_SCALE_RANGE),
            _in_range("length_scale", found.length_scale if length_scale is None else length_scale, LENGTH_SCALE_RANGE),
            _in_range("noise_w", found.noise_w if noise_w is None else noise_w, NOISE_W_RANGE),
        ]
        ids = found.ids(self._espeak.phonemes(text, found.espeak_voice), text)
        inputs = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
        }
        if found.speakers > 1:
            inputs["sid"] = np.array([speaker], dtype=np.int64)
        audio = np.asarray(self._session(found).run(None, inputs)[0], dtype=np.float32).reshape(-1)
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > 1.0:
            audio = audio / peak
        if found.sample_rate != SAMPLE_RATE and audio.size:
            audio = soxr.resample(audio, found.sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
        trimmed = trim_silence(audio)
        if trimmed.size == 0:
            raise ValueError(f"Piper voice {voice!r} produced no audible speech for {text!r}")
        return trimmed

    def _session(self, voice: PiperVoice):
        import onnxruntime

        with self._lock:
            if voice.name not in self._sessions:
                options = onnxruntime.SessionOptions()
                options.log_severity_level = 3  # the voices' graphs trigger harmless shape warnings
                # The graph's random ops take the global seed when their session is made, and keep their generator.
                onnxruntime.set_seed(self._seed + len(self._sessions))
                self._sessions[voice.name] = onnxruntime.InferenceSession(
                    str(voice.model), options, providers=["CPUExecutionProvider"]
                )
            return self._sessions[voice.name]


def _in_range(name: str, value: float, bounds: tuple[float, float]) -> float:
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name} must be within {bounds[0]}-{bounds[1]}, not {value}")
    return value
