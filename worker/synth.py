"""Synthetic training clips from espeak-ng: the wake phrase, its near misses and noise, at 16 kHz."""

from __future__ import annotations

import ctypes
import io
import itertools
import os
import pickle
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000
RATE_RANGE_WPM = (80, 450)
PITCH_RANGE = (0, 99)
DEFAULT_RATE_WPM = 175
DEFAULT_PITCH = 50
# Ranges sampled for training sets: espeak above ~300 wpm is hard to understand even for people.
SET_RATE_RANGE_WPM = (100, 300)
SET_PITCH_RANGE = (10, 90)
NOISE_SECONDS = (1.0, 2.0)
MIN_SET_CLIP_SECONDS = 0.3
# Share of negatives that are ordinary sentences rather than near misses of the phrase.
SENTENCE_SHARE = 0.2

_MARGIN_S = 0.05
_TRIM_FLOOR_DB = -40.0
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

Label = Literal["positive", "negative", "noise"]


@dataclass(frozen=True, eq=False)
class SynthClip:
    """One synthetic clip: float32 mono audio at 16 kHz and what it holds."""

    label: Label
    text: str | None
    speaker: str
    audio: np.ndarray

    @property
    def duration_s(self) -> float:
        """Length of the clip in seconds."""
        return self.audio.size / SAMPLE_RATE


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
        trimmed = _trim_silence(audio)
        if trimmed.size == 0:
            raise ValueError(f"espeak-ng produced no audible speech for {text!r}")
        return trimmed

    def seed(self, seed: int) -> None:
        """Seed espeak-ng's own noise generator (breathy variants use it)."""
        with self._espeak.lock:
            self._espeak.lib.espeak_ng_SetRandSeed(seed)


def _trim_silence(audio: np.ndarray, *, margin_s: float = _MARGIN_S) -> np.ndarray:
    """Cut leading and trailing silence (10 ms frames 40 dB below the loudest), then pad to `margin_s` each side."""
    frame = SAMPLE_RATE // 100
    n_frames = audio.size // frame
    if n_frames == 0:
        return np.zeros(0, dtype=np.float32)
    rms = np.sqrt(np.mean(np.square(audio[: n_frames * frame].reshape(n_frames, frame)), axis=1))
    threshold = max(float(rms.max()) * 10 ** (_TRIM_FLOOR_DB / 20), 1e-4)
    active = np.flatnonzero(rms > threshold)
    if active.size == 0:
        return np.zeros(0, dtype=np.float32)
    margin = round(margin_s * SAMPLE_RATE)
    start = max(0, active[0] * frame - margin)
    end = min(audio.size, (active[-1] + 1) * frame + margin)
    # espeak leaves only ~10 ms of silence around speech; pad so every clip has the same margins.
    pad_before = margin - (active[0] * frame - start)
    pad_after = margin - (end - (active[-1] + 1) * frame)
    return np.pad(audio[start:end], (pad_before, pad_after)).astype(np.float32)


# Near misses: onsets that sound close to each other (spelling-level, aimed at English).
_SIMILAR_ONSETS: dict[str, tuple[str, ...]] = {
    "b": ("p", "d", "v", "m"),
    "c": ("g", "t", "p"),
    "ch": ("sh", "j", "t"),
    "d": ("t", "g", "b", "j"),
    "f": ("v", "th", "p"),
    "g": ("k", "d", "j", "b"),
    "h": ("f", "k", "j"),
    "j": ("tr", "h", "g", "ch", "d"),
    "k": ("g", "t", "p"),
    "l": ("r", "w", "n"),
    "m": ("n", "b", "w"),
    "n": ("m", "d", "l"),
    "p": ("b", "t", "k"),
    "qu": ("kw", "w", "tw"),
    "r": ("l", "w", "br"),
    "s": ("sh", "z", "th", "f"),
    "sh": ("ch", "s", "f"),
    "t": ("d", "k", "p", "ch"),
    "th": ("f", "s", "t"),
    "v": ("f", "b", "w"),
    "w": ("r", "v", "b"),
    "x": ("z", "s"),
    "y": ("j", "w"),
    "z": ("s", "th"),
}
_VOWEL_ONSETS = ("h", "b", "t")
# Words that carry no wake-word identity: never mutated, but still spoken alone as near misses.
_FUNCTION_WORDS = {
    "a", "an", "and", "hey", "hi", "hello", "ok", "okay", "oh", "my", "the", "to", "of", "on", "in", "for",
    "is", "it", "please", "yo", "your", "der", "die", "das", "ein", "eine", "hallo", "le", "la", "les", "un",
    "une", "el", "los", "las", "hola", "salut",
}  # fmt: skip
_VOWELS = set("aeiouäöüàâéèêëîïôûùœæåøy")


def _words(phrase: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:['\u2019-][^\W_]+)*", phrase.lower())


def _onset(word: str) -> str:
    for i, char in enumerate(word):
        if char in _VOWELS and not (char == "y" and i == 0):
            return word[:i]
    return word


def _swapped_onsets(word: str) -> list[str]:
    """The word with its first consonant(s) swapped for similar ones: jarvis -> travis, harvis, garvis."""
    onset = _onset(word)
    if onset == word:
        return []
    rest = word[len(onset) :]
    if not onset:
        return [o + word for o in _VOWEL_ONSETS]
    if onset in _SIMILAR_ONSETS:
        swapped = [o + rest for o in _SIMILAR_ONSETS[onset]]
    else:
        head = onset[:2] if onset[:2] in _SIMILAR_ONSETS else onset[:1]
        swapped = [o + onset[len(head) :] + rest for o in _SIMILAR_ONSETS.get(head, ())]
    # An r-cluster before an r-coloured vowel says the r twice ("trarvis"); people say "travis".
    return [re.sub(r"^([^aeiouy]*r[aeiouy]+)r(?=[^aeiouy])", r"\1", w) for w in swapped]


def _clipped(word: str) -> list[str]:
    """The word without its last syllable (roughly): jarvis -> jar, jars; alexa -> alex."""
    groups = [m.start() for m in re.finditer(f"[{''.join(sorted(_VOWELS))}]+", word)]
    if word and word[0] == "y":
        groups = [g for g in groups if g != 0]
    if len(groups) < 2:
        return []
    last = groups[-1]
    cut = last
    while cut > 0 and word[cut - 1] not in _VOWELS:
        cut -= 1
    # A single consonant closes the syllable before it (alex|a); of a cluster, the first one does (jar|vis).
    stem = word[: cut + 1]
    if len(stem) < 2:
        return []
    return [stem] if stem[-1] in "sxz" else [stem, stem + "s"]


def near_misses(phrase: str) -> list[str]:
    """Adversarial negatives for a phrase: its parts alone and sound-alike variants, never the phrase itself."""
    words = _words(phrase)
    if not words:
        raise ValueError("the phrase has no words")
    target = " ".join(words)
    candidates: list[str] = []
    # Order-keeping sub-sequences: all of them for short phrases, contiguous runs for long ones.
    if len(words) <= 6:
        for size in range(1, len(words)):
            candidates += [" ".join(c) for c in itertools.combinations(words, size)]
    else:
        candidates += [
            " ".join(words[i : i + size]) for size in range(1, len(words)) for i in range(len(words) - size + 1)
        ]
    content = [i for i, w in enumerate(words) if w not in _FUNCTION_WORDS and len(w) >= 3]
    if not content:
        content = [i for i, w in enumerate(words) if len(w) >= 2]
    for i in content:
        for other in _swapped_onsets(words[i]) + _clipped(words[i]):
            candidates.append(" ".join([*words[:i], other, *words[i + 1 :]]))
    seen: set[str] = {target}
    result = []
    for candidate in candidates:
        if candidate and candidate not in seen:
            seen.add(candidate)
            result.append(candidate)
    return result


_SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "what time is it",
        "turn off the lights in the kitchen",
        "can you play some music",
        "I'll be there in about ten minutes",
        "the weather is nice today",
        "did you remember to buy milk",
        "let's meet after lunch",
        "please close the window",
        "how was your weekend",
        "set a timer for five minutes",
        "that's a very good question",
        "the train leaves at half past seven",
    ),
    "de": (
        "wie spät ist es",
        "mach bitte das Licht in der Küche aus",
        "kannst du etwas Musik spielen",
        "ich bin in zehn Minuten da",
        "das Wetter ist heute schön",
        "hast du an die Milch gedacht",
        "wir treffen uns nach dem Mittagessen",
        "stell einen Wecker für fünf Minuten",
    ),
    "fr": (
        "quelle heure est-il",
        "éteins la lumière de la cuisine",
        "tu peux mettre de la musique",
        "j'arrive dans dix minutes",
        "il fait beau aujourd'hui",
        "on se retrouve après le déjeuner",
    ),
    "es": (
        "qué hora es",
        "apaga la luz de la cocina",
        "puedes poner algo de música",
        "llego en diez minutos",
        "hoy hace buen tiempo",
        "nos vemos después de comer",
    ),
    "it": (
        "che ore sono",
        "spegni la luce in cucina",
        "puoi mettere un po' di musica",
        "arrivo tra dieci minuti",
        "oggi il tempo è bello",
    ),
    "nl": (
        "hoe laat is het",
        "doe het licht in de keuken uit",
        "kun je wat muziek spelen",
        "ik ben er over tien minuten",
        "het weer is mooi vandaag",
    ),
}


def ordinary_sentences(language: str, phrase: str) -> list[str]:
    """A few everyday sentences in the language (English where we have none) that do not hold the phrase."""
    base = language.lower().split("-")[0]
    target = " ".join(_words(phrase))
    return [s for s in _SENTENCES.get(base, _SENTENCES["en"]) if target not in " ".join(_words(s))]


def to_wav_bytes(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Float audio as PCM16 WAV bytes (what `shared.audio.normalize_clip` takes)."""
    out = io.BytesIO()
    sf.write(out, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def coloured_noise(rng: np.random.Generator, seconds: float, colour: str) -> np.ndarray:
    """Noise whose power falls (pink, brown) or rises (blue, violet) with frequency, at a random level."""
    exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0, "violet": -2.0}[colour]
    n = round(seconds * SAMPLE_RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    level_dbfs = rng.uniform(-45.0, -15.0)
    noise *= 10 ** (level_dbfs / 20) / max(float(np.sqrt(np.mean(noise**2))), 1e-12)
    peak = float(np.abs(noise).max())
    if peak > 0.95:
        noise *= 0.95 / peak
    return noise.astype(np.float32)


_NOISE_COLOURS = ("white", "pink", "brown", "blue", "violet")


def synthesize_set(
    phrase: str,
    *,
    language: str = "en",
    positives: int,
    negatives: int,
    seed: int,
    noise: int = 0,
    voices: Sequence[str] | None = None,
) -> list[SynthClip]:
    """Positives of the phrase, near-miss and ordinary-speech negatives, and noise clips; the same for a seed.

    `voices` limits the espeak-ng voices (accents) used, e.g. to keep some out for a held-out test set.

    espeak-ng carries state from one utterance to the next (its pitch flutter), so the clips are made in a
    fresh interpreter where the library starts from the same state every time.
    """
    if min(positives, negatives, noise) < 0:
        raise ValueError("clip counts cannot be negative")
    if not _words(phrase):
        raise ValueError("the phrase has no words")
    synth = EspeakSynthesizer(language)  # an unknown language fails here, before a process is started
    if voices is not None:
        voices = list(dict.fromkeys(voices))
        unknown = sorted(set(voices) - set(synth.voices()))
        if unknown or not voices:
            raise ValueError(
                f"espeak-ng has no {language!r} voice {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"available: {', '.join(synth.voices())}"
            )
    request = {
        "phrase": phrase,
        "language": language,
        "positives": positives,
        "negatives": negatives,
        "seed": seed,
        "noise": noise,
        "voices": voices,
    }
    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="wake-synth-") as tmp:
        request_path, result_path = Path(tmp) / "request.pkl", Path(tmp) / "result.pkl"
        request_path.write_bytes(pickle.dumps(request))
        code = (
            f"import sys; sys.path.insert(0, {root!r}); from worker.synth import _child_main; "
            f"_child_main({str(request_path)!r}, {str(result_path)!r})"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"speech synthesis failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
        # Our own child wrote this file a moment ago in a private temporary folder.
        return pickle.loads(result_path.read_bytes())


def _child_main(request_path: str, result_path: str) -> None:
    request = pickle.loads(Path(request_path).read_bytes())
    clips = _synthesize_set_here(**request)
    Path(result_path).write_bytes(pickle.dumps(clips, protocol=pickle.HIGHEST_PROTOCOL))


def _synthesize_set_here(
    phrase: str,
    *,
    language: str,
    positives: int,
    negatives: int,
    seed: int,
    noise: int,
    voices: list[str] | None = None,
) -> list[SynthClip]:
    synth = EspeakSynthesizer(language)
    synth.seed(seed)
    rng = np.random.default_rng(seed)
    voices = voices or synth.voices()
    variants: list[str | None] = [None, *synth.variants()]
    # Cycle through shuffled voices and variants so small sets still cover them evenly.
    voice_order = [voices[i] for i in rng.permutation(len(voices))]
    variant_order = [variants[i] for i in rng.permutation(len(variants))]
    counter = itertools.count()

    def speak(label: Label, text: str) -> SynthClip:
        i = next(counter)
        voice, variant = voice_order[i % len(voice_order)], variant_order[i % len(variant_order)]
        rate = int(rng.integers(SET_RATE_RANGE_WPM[0], SET_RATE_RANGE_WPM[1] + 1))
        pitch = int(rng.integers(SET_PITCH_RANGE[0], SET_PITCH_RANGE[1] + 1))
        audio = synth.speak(text, voice=voice, variant=variant, rate_wpm=rate, pitch=pitch)
        name = voice if variant is None else f"{voice}+{variant}"
        return SynthClip(label, text, f"espeak:{name}@r{rate}p{pitch}", _pad_to(audio, MIN_SET_CLIP_SECONDS))

    target = " ".join(_words(phrase))
    clips = [speak("positive", target) for _ in range(positives)]

    misses = near_misses(phrase)
    sentences = ordinary_sentences(language, phrase)
    n_sentences = round(negatives * SENTENCE_SHARE) if sentences else 0
    texts = _round_robin(rng, misses, negatives - n_sentences) + _round_robin(rng, sentences, n_sentences)
    clips += [speak("negative", texts[i]) for i in rng.permutation(len(texts))]

    for _ in range(noise):
        colour = _NOISE_COLOURS[int(rng.integers(len(_NOISE_COLOURS)))]
        audio = coloured_noise(rng, rng.uniform(*NOISE_SECONDS), colour)
        clips.append(SynthClip("noise", None, f"noise:{colour}", audio))
    return clips


def _round_robin(rng: np.random.Generator, items: list[str], count: int) -> list[str]:
    """`count` items taken in turn from shuffled copies of `items`, so each appears before any repeats."""
    out: list[str] = []
    while len(out) < count:
        out += [items[i] for i in rng.permutation(len(items))]
    return out[:count]


def _pad_to(audio: np.ndarray, seconds: float) -> np.ndarray:
    missing = round(seconds * SAMPLE_RATE) - audio.size
    if missing <= 0:
        return audio
    return np.pad(audio, (missing // 2, missing - missing // 2)).astype(np.float32)
