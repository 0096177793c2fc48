"""A bank of background speech for training: many voices and languages talking, none of it the wake phrase.

A dataset holds minutes of negatives; a deployed detector hears hours of people talking. The bank fills that gap
with speech synthesized at the start of a job (espeak-ng speaks ~450x and Pico ~140x faster than real time, so half
an hour takes seconds): English sentences from templates and pseudo-words read by espeak-ng's voices of many
languages and by SVOX Pico's six, at random rates, pitches and voice variants. Training cuts negative windows from
it and mixes it under positives as babble. It is made in a child process (espeak-ng carries state from one utterance
to the next) and cached on the volume, so every job on a machine shares one bank and the same seed always gives the
same audio.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from worker.synthesis.fresh import call_in_fresh_process
from worker.training.features import SAMPLE_RATE

BANK_VERSION = 2
"""Part of the cache file's name: bump it when what the bank holds changes for the same arguments."""

LATIN_LANGUAGES = (
    "af", "ca", "cs", "cy", "da", "de", "es", "et", "eu", "fi", "fr", "ga", "hr", "hu", "id", "is", "it", "lt",
    "lv", "ms", "nl", "nb", "pl", "pt", "ro", "sk", "sl", "sq", "sv", "sw", "tr", "vi",
)  # fmt: skip
"""espeak-ng languages written in Latin script, so that generated pseudo-words are read by their own rules."""
ENGLISH_SHARE = 0.5
"""Of the utterances, the share that are English sentences (wake phrases are mostly English)."""
PICO_SHARE = 0.3
"""Of the utterances, the share spoken by SVOX Pico (when installed) rather than espeak-ng: every engine that
speaks positives must speak negatives too, or the engine itself becomes a cue."""

# Template parts of the English sentences (public: bench/espeak_smoke.py speaks its background from them too).
SUBJECTS = (
    "my sister", "the neighbour", "our teacher", "the old man", "a friend of mine", "the driver", "my uncle",
    "the new manager", "her cousin", "the children", "the doctor", "everyone at work", "the baker", "his wife",
    "the pilot", "my grandmother", "a stranger", "the team", "your brother", "the students",
)  # fmt: skip
VERBS = (
    "forgot", "painted", "borrowed", "carried", "found", "cleaned", "sold", "ordered", "fixed", "described",
    "wanted", "opened", "lost", "planted", "delivered", "noticed", "cooked", "measured", "returned", "counted",
)  # fmt: skip
OBJECTS = (
    "the blue umbrella", "a box of apples", "the kitchen table", "three old letters", "the garden gate",
    "a bag of flour", "the bicycle", "some warm bread", "the front window", "a pair of boots", "the map",
    "a yellow kite", "the radio", "two tickets", "the heavy suitcase", "a new lamp", "the wooden chair",
)  # fmt: skip
ENDINGS = (
    "last week", "this morning", "before dinner", "after the meeting", "on Sunday", "in the rain",
    "without asking", "near the station", "at the market", "for the party", "yesterday", "again", "",
)  # fmt: skip
_QUESTIONS = (
    "what time is the game tonight", "could you turn the music down a little", "where did I leave my keys",
    "is it going to rain tomorrow", "how long does the oven take to heat up", "did anybody call while I was out",
    "shall we order some pizza", "have you seen the remote control", "why is the door still open",
    "when does the shop close on Saturdays", "who wants another cup of tea", "can we talk about this later",
)  # fmt: skip
_ONSETS = ("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "kl", "")
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou", "ie", "ee", "oa")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "t", "k", "nd", "st")


def english_sentence(rng: np.random.Generator) -> str:
    """An everyday English sentence or question from templates."""
    if rng.random() < 0.25:
        return _QUESTIONS[int(rng.integers(len(_QUESTIONS)))]
    parts = [SUBJECTS, VERBS, OBJECTS, ENDINGS]
    return " ".join(filter(None, (part[int(rng.integers(len(part)))] for part in parts)))


def pseudo_sentence(rng: np.random.Generator) -> str:
    """4-12 pronounceable made-up words: any language's voice reads them with its own sounds and rhythm."""
    words = []
    for _ in range(int(rng.integers(4, 13))):
        syllables = int(rng.integers(1, 4))
        words.append(
            "".join(
                _ONSETS[int(rng.integers(len(_ONSETS)))]
                + _NUCLEI[int(rng.integers(len(_NUCLEI)))]
                + _CODAS[int(rng.integers(len(_CODAS)))]
                for _ in range(syllables)
            )
        )
    return " ".join(words)


def bank_path(cache_dir: Path, seconds: float, seed: int) -> Path:
    """Where the bank for these arguments is cached."""
    return cache_dir / f"speech-bank-v{BANK_VERSION}-{round(seconds)}s-seed{seed}.npy"


def load_or_build_speech_bank(cache_dir: Path | None, seconds: float, seed: int) -> np.ndarray:
    """The bank as float32 [samples]: from the cache when there, else synthesized (and cached when a folder is given).

    The cache is written atomically (temporary file, then rename): concurrent jobs may both build it, and each
    reads either nothing or a whole file.
    """
    if cache_dir is not None:
        path = bank_path(cache_dir, seconds, seed)
        if path.is_file():
            return (np.load(path).astype(np.float32)) / 32768.0
    pcm = _build_in_child(seconds, seed)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".npy.partial", delete=False) as handle:
            np.save(handle, pcm)
        os.replace(handle.name, bank_path(cache_dir, seconds, seed))
    return pcm.astype(np.float32) / 32768.0


def _build_in_child(seconds: float, seed: int) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="wake-bank-") as tmp:
        result = Path(tmp) / "bank.npy"
        call_in_fresh_process(
            "worker.training.background", "_child_main", seconds, seed, str(result), what="background speech synthesis"
        )
        return np.load(result)


def _child_main(seconds: float, seed: int, result: str) -> None:
    from worker.synthesis.pico import zero_memory_per_call

    zero_memory_per_call()  # Pico's audio then depends on its arguments alone, so the bank on its seed alone
    np.save(result, build_speech_bank(seconds, seed))


def build_speech_bank(seconds: float, seed: int) -> np.ndarray:
    """About `seconds` of speech as int16 [samples]: utterances separated by short pauses."""
    from worker.synthesis import EspeakSynthesizer, PicoSynthesizer

    rng = np.random.default_rng(seed)
    try:
        pico: PicoSynthesizer | None = PicoSynthesizer("en")
        pico_english, pico_all = pico.voices("en"), pico.all_voices()
    except RuntimeError:  # py-nanotts is not installed: espeak-ng speaks everything
        pico, pico_english, pico_all = None, [], []
    english = EspeakSynthesizer("en")
    english.seed(seed)
    english_voices = english.voices()
    languages = [code for code in LATIN_LANGUAGES if code in english.languages()]
    voices = {code: EspeakSynthesizer(code).voices() for code in languages}
    variants: list[str | None] = [None, *english.variants()]
    pieces: list[np.ndarray] = []
    total = 0
    target = round(seconds * SAMPLE_RATE)
    while total < target:
        if rng.random() < ENGLISH_SHARE:
            text, voice = english_sentence(rng), english_voices[int(rng.integers(len(english_voices)))]
        else:
            code = languages[int(rng.integers(len(languages)))]
            text, voice = pseudo_sentence(rng), voices[code][int(rng.integers(len(voices[code])))]
        variant = variants[int(rng.integers(len(variants)))]
        rate, pitch, by_pico = int(rng.integers(110, 260)), int(rng.integers(10, 90)), rng.random() < PICO_SHARE
        try:
            if by_pico and pico is not None:
                # Pico reads any text with its voice's own rules: English sentences in its English voices,
                # made-up words in all six.
                choices = pico_english if voice in english_voices else pico_all
                pico_voice = choices[int(rng.integers(len(choices)))]
                audio = pico.speak(text, voice=pico_voice, speed=rate / 175, pitch=0.6 + pitch / 90)
            else:
                audio = english.speak(text, voice=voice, variant=variant, rate_wpm=rate, pitch=pitch)
        except ValueError:  # a voice that produced no audible speech for this text: draw another
            continue
        level = 10 ** (rng.uniform(-30.0, -8.0) / 20) / max(float(np.abs(audio).max()), 1e-6)
        pause = np.zeros(int(rng.uniform(0.05, 0.6) * SAMPLE_RATE), dtype=np.float32)
        pieces += [audio * level, pause]
        total += audio.size + pause.size
    audio = np.concatenate(pieces)[:target]
    return np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
