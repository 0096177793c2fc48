"""Synthetic training clips at 16 kHz from espeak-ng and SVOX Pico: the wake phrase, its near misses and noise."""

from shared.phrases import near_misses, ordinary_sentences
from shared.synthesis_voices import ENGINES
from worker.synthesis.audio import SAMPLE_RATE
from worker.synthesis.espeak import EspeakSynthesizer
from worker.synthesis.noise import coloured_noise
from worker.synthesis.pico import PicoSynthesizer
from worker.synthesis.sets import SynthClip, synthesize_set, to_wav_bytes

__all__ = [
    "ENGINES",
    "SAMPLE_RATE",
    "EspeakSynthesizer",
    "PicoSynthesizer",
    "SynthClip",
    "coloured_noise",
    "near_misses",
    "ordinary_sentences",
    "synthesize_set",
    "to_wav_bytes",
]
