"""Piper voice files on the data volume: which voices there are and what their configs say (no audio here).

A voice is a pair `<name>.onnx` + `<name>.onnx.json`, as https://huggingface.co/rhasspy/piper-voices publishes them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# Piper's phoneme-id conventions: sentence start and end, and a pad after every phoneme.
_BOS, _EOS, _PAD = "^", "$", "_"
_LANGUAGE_FLAG = re.compile(r"\([^)]+\)")
# The punctuation espeak-ng ends a clause at; Piper keeps it as a phoneme (a pause, an intonation).
_CLAUSE_END = re.compile(r"[.,;:!?](?=\s|$)")


@dataclass(frozen=True)
class PiperVoice:
    """One voice file pair and what its config says about it."""

    name: str
    model: Path
    language: str
    espeak_voice: str
    sample_rate: int
    speakers: int
    phoneme_ids: dict[str, list[int]]
    length_scale: float
    noise_scale: float
    noise_w: float

    @classmethod
    def load(cls, model: Path) -> PiperVoice:
        """The voice of `model` and its `<model>.json`; ValueError saying what is wrong with either."""
        config_path = model.with_name(model.name + ".json")
        if not config_path.is_file():
            raise ValueError(f"Piper voice {model.name}: no config {config_path.name} next to it")
        try:
            config = json.loads(config_path.read_text())
            if config.get("phoneme_type", "espeak") != "espeak":
                raise ValueError(f"phonemes of type {config['phoneme_type']!r}; only espeak voices are supported")
            inference = config.get("inference", {})
            return cls(
                name=model.name.removesuffix(".onnx"),
                model=model,
                language=str(config["language"]["code"]).replace("_", "-").lower(),
                espeak_voice=str(config["espeak"]["voice"]).lower(),
                sample_rate=int(config["audio"]["sample_rate"]),
                speakers=int(config.get("num_speakers", 1)),
                phoneme_ids={str(k): [int(i) for i in v] for k, v in config["phoneme_id_map"].items()},
                length_scale=float(inference.get("length_scale", 1.0)),
                noise_scale=float(inference.get("noise_scale", 0.667)),
                noise_w=float(inference.get("noise_w", 0.8)),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"Piper voice {model.name}: unusable config {config_path.name}: {exc}") from None

    def ids(self, clauses: list[str], text: str) -> list[int]:
        """Phoneme ids as Piper's training made them: codepoints (decomposed), each followed by a pad."""
        ends = _CLAUSE_END.findall(text)
        if len(ends) not in (len(clauses), len(clauses) - 1):
            ends = []  # espeak split where we cannot tell why: read it without the punctuation
        pieces = []
        for i, clause in enumerate(clauses):
            end = ends[i] if i < len(ends) else ""
            pieces.append(_LANGUAGE_FLAG.sub("", clause) + end)
        phonemes = unicodedata.normalize("NFD", " ".join(pieces))
        pad = self.phoneme_ids[_PAD]
        ids = [*self.phoneme_ids[_BOS], *pad]
        for phoneme in phonemes:
            # Piper skips a phoneme its voice never saw; so do we.
            if phoneme in self.phoneme_ids:
                ids += [*self.phoneme_ids[phoneme], *pad]
        return [*ids, *self.phoneme_ids[_EOS]]


def find_voices(folder: Path | None) -> dict[str, PiperVoice]:
    """The usable voices in `folder` by name (files that are not a voice, or a broken one, are left out)."""
    voices: dict[str, PiperVoice] = {}
    if folder is None or not folder.is_dir():
        return voices
    for model in sorted(folder.glob("*.onnx")):
        try:
            voice = PiperVoice.load(model)
        except ValueError:
            continue
        voices[voice.name] = voice
    return voices


def voices_for(language: str, voices: dict[str, PiperVoice]) -> list[str]:
    """Names of the voices that speak `language`: "en" finds en_US and en_GB voices, "en-us" only the first."""
    language = language.lower()
    return [
        name
        for name, voice in voices.items()
        if voice.language == language or voice.language.startswith(language + "-")
    ]
