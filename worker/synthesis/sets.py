"""Training sets of synthetic clips from several engines, made in a child process so that a seed gives the same set."""

from __future__ import annotations

import io
import itertools
import pickle
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from shared.phrases import near_misses, ordinary_sentences, words
from shared.synthesis_voices import PREFIXES, plan_voices
from worker.synthesis.audio import SAMPLE_RATE
from worker.synthesis.espeak import EspeakSynthesizer
from worker.synthesis.fresh import call_in_fresh_process
from worker.synthesis.noise import NOISE_COLOURS, coloured_noise
from worker.synthesis.pico import PicoSynthesizer, zero_memory_per_call
from worker.synthesis.piper import PiperSynthesizer

# Ranges sampled for training sets: espeak above ~300 wpm is hard to understand even for people.
SET_RATE_RANGE_WPM = (100, 300)
SET_PITCH_RANGE = (10, 90)
SET_PICO_SPEED_RANGE = (0.75, 1.35)
SET_PICO_PITCH_RANGE = (0.75, 1.35)
# Around Piper's defaults (1.0, 0.667, 0.8): slower and faster speech, more and less varied timbre and timing.
SET_PIPER_LENGTH_RANGE = (0.75, 1.35)
SET_PIPER_NOISE_RANGE = (0.4, 1.0)
SET_PIPER_NOISE_W_RANGE = (0.4, 1.1)
NOISE_SECONDS = (1.0, 2.0)
MIN_SET_CLIP_SECONDS = 0.3
# Share of negatives that are ordinary sentences rather than near misses of the phrase.
SENTENCE_SHARE = 0.2

Label = Literal["positive", "negative", "noise"]
# Speaks a text with the next speaker: the audio and the speaker's name.
_Speaker = Callable[[str], tuple[np.ndarray, str]]


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


def to_wav_bytes(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Float audio as PCM16 WAV bytes (what `shared.audio.normalize_clip` takes)."""
    out = io.BytesIO()
    sf.write(out, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def synthesize_set(
    phrase: str,
    *,
    language: str = "en",
    positives: int,
    negatives: int,
    seed: int,
    noise: int = 0,
    voices: Sequence[str] | None = None,
    engines: Sequence[str] | None = None,
    piper_voices_dir: Path | None = None,
) -> list[SynthClip]:
    """Positives of the phrase, near-miss and ordinary-speech negatives, and noise clips; the same for a seed.

    `engines` ("espeak", "pico", "piper") take turns clip by clip; by default every engine with a voice for the
    language: espeak-ng always, Pico for its six languages, Piper for the voice files in `piper_voices_dir`.
    `voices` limits the voices used, e.g. to keep some out for a held-out test set: espeak-ng accents as they
    are ("en-us"), the others with their engine's prefix ("pico:en-US", "piper:en_US-joe-medium"). An engine
    none of them names keeps all its voices; without `engines`, only the engines they name speak.

    espeak-ng carries state from one utterance to the next (its pitch flutter), and Pico reads memory a
    previous utterance left, so the clips are made in a fresh interpreter that starts from the same state.
    """
    if min(positives, negatives, noise) < 0:
        raise ValueError("clip counts cannot be negative")
    if not words(phrase):
        raise ValueError("the phrase has no words")
    # Refuses what cannot be spoken before a process is started.
    plan = _plan_voices(language, voices, engines, piper_voices_dir)
    request = {
        "phrase": phrase,
        "language": language,
        "positives": positives,
        "negatives": negatives,
        "seed": seed,
        "noise": noise,
        "voices": plan,
        "piper_voices_dir": piper_voices_dir,
    }
    with tempfile.TemporaryDirectory(prefix="wake-synth-") as tmp:
        request_path, result_path = Path(tmp) / "request.pkl", Path(tmp) / "result.pkl"
        request_path.write_bytes(pickle.dumps(request))
        call_in_fresh_process(
            "worker.synthesis.sets", "_child_main", str(request_path), str(result_path), what="speech synthesis"
        )
        # Our own child wrote this file a moment ago in a private temporary folder.
        return pickle.loads(result_path.read_bytes())


def _plan_voices(
    language: str, voices: Sequence[str] | None, engines: Sequence[str] | None, piper_dir: Path | None
) -> dict[str, list[str] | None]:
    """Engine -> the voices it may use (None: all of the language's), in ENGINES order, from the real engines."""
    return plan_voices(language, voices, engines, lambda engine, lang: _voices_of(engine, lang, piper_dir))


def _voices_of(engine: str, language: str, piper_dir: Path | None) -> list[str]:
    """The voices `engine` has for `language`, as `voices` names them."""
    if engine == "pico":
        return [PREFIXES[engine] + voice for voice in PicoSynthesizer(language).voices()]
    if engine == "piper":
        return [PREFIXES[engine] + voice for voice in PiperSynthesizer(language, piper_dir).voices()]
    return EspeakSynthesizer(language).voices()


def _child_main(request_path: str, result_path: str) -> None:
    zero_memory_per_call()
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
    voices: dict[str, list[str] | None],
    piper_voices_dir: Path | None,
) -> list[SynthClip]:
    rng = np.random.default_rng(seed)
    speakers: list[_Speaker] = []
    if "espeak" in voices:
        speakers.append(_espeak_speaker(language, voices["espeak"], seed, rng))
    if "pico" in voices:
        speakers.append(_pico_speaker(language, voices["pico"], rng))
    if "piper" in voices:
        speakers.append(_piper_speaker(language, voices["piper"], piper_voices_dir, seed, rng))
    if len(speakers) > 1:
        # Drawn only for several engines: an espeak-only set stays clip for clip what it was before Pico came.
        speakers = [speakers[i] for i in rng.permutation(len(speakers))]
    counter = itertools.count()

    def speak(label: Label, text: str) -> SynthClip:
        audio, speaker = speakers[next(counter) % len(speakers)](text)
        return SynthClip(label, text, speaker, _pad_to(audio, MIN_SET_CLIP_SECONDS))

    target = " ".join(words(phrase))
    clips = [speak("positive", target) for _ in range(positives)]

    misses = near_misses(phrase)
    sentences = ordinary_sentences(language, phrase)
    n_sentences = round(negatives * SENTENCE_SHARE) if sentences else 0
    texts = _round_robin(rng, misses, negatives - n_sentences) + _round_robin(rng, sentences, n_sentences)
    clips += [speak("negative", texts[i]) for i in rng.permutation(len(texts))]

    for _ in range(noise):
        colour = NOISE_COLOURS[int(rng.integers(len(NOISE_COLOURS)))]
        audio = coloured_noise(rng, rng.uniform(*NOISE_SECONDS), colour)
        clips.append(SynthClip("noise", None, f"noise:{colour}", audio))
    return clips


def _espeak_speaker(language: str, voices: list[str] | None, seed: int, rng: np.random.Generator) -> _Speaker:
    """espeak-ng voices and variants in turn (shuffled: small sets still cover them evenly), random rate and pitch."""
    synth = EspeakSynthesizer(language)
    synth.seed(seed)
    voices = voices or synth.voices()
    variants: list[str | None] = [None, *synth.variants()]
    voice_order = [voices[i] for i in rng.permutation(len(voices))]
    variant_order = [variants[i] for i in rng.permutation(len(variants))]
    counter = itertools.count()

    def speak(text: str) -> tuple[np.ndarray, str]:
        i = next(counter)
        voice, variant = voice_order[i % len(voice_order)], variant_order[i % len(variant_order)]
        rate = int(rng.integers(SET_RATE_RANGE_WPM[0], SET_RATE_RANGE_WPM[1] + 1))
        pitch = int(rng.integers(SET_PITCH_RANGE[0], SET_PITCH_RANGE[1] + 1))
        audio = synth.speak(text, voice=voice, variant=variant, rate_wpm=rate, pitch=pitch)
        name = voice if variant is None else f"{voice}+{variant}"
        return audio, f"espeak:{name}@r{rate}p{pitch}"

    return speak


def _pico_speaker(language: str, voices: list[str] | None, rng: np.random.Generator) -> _Speaker:
    """Pico voices in turn (shuffled), each clip at a random speed and pitch."""
    synth = PicoSynthesizer(language)
    voices = voices or synth.voices()
    voice_order = [voices[i] for i in rng.permutation(len(voices))]
    counter = itertools.count()

    def speak(text: str) -> tuple[np.ndarray, str]:
        voice = voice_order[next(counter) % len(voice_order)]
        speed = round(float(rng.uniform(*SET_PICO_SPEED_RANGE)), 2)
        pitch = round(float(rng.uniform(*SET_PICO_PITCH_RANGE)), 2)
        audio = synth.speak(text, voice=voice, speed=speed, pitch=pitch)
        return audio, f"pico:{voice}@s{speed:.2f}p{pitch:.2f}"

    return speak


def _piper_speaker(
    language: str, voices: list[str] | None, folder: Path | None, seed: int, rng: np.random.Generator
) -> _Speaker:
    """Piper voices in turn (shuffled), a random speaker of a multi-speaker voice, random length and noise scales."""
    synth = PiperSynthesizer(language, folder, seed=seed)
    voices = voices or synth.voices()
    voice_order = [voices[i] for i in rng.permutation(len(voices))]
    counter = itertools.count()

    def speak(text: str) -> tuple[np.ndarray, str]:
        voice = voice_order[next(counter) % len(voice_order)]
        speaker = int(rng.integers(synth.voice(voice).speakers))
        length = round(float(rng.uniform(*SET_PIPER_LENGTH_RANGE)), 2)
        noise = round(float(rng.uniform(*SET_PIPER_NOISE_RANGE)), 2)
        noise_w = round(float(rng.uniform(*SET_PIPER_NOISE_W_RANGE)), 2)
        audio = synth.speak(text, voice=voice, speaker=speaker, length_scale=length, noise_scale=noise, noise_w=noise_w)
        return audio, f"piper:{voice}#{speaker}@l{length:.2f}n{noise:.2f}w{noise_w:.2f}"

    return speak


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
