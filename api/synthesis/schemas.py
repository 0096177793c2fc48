"""Response bodies for the synthesis catalogue."""

from __future__ import annotations

import msgspec


class EngineVoices(msgspec.Struct):
    """A language's voices per engine, named as a synthesize request's `voices` names them."""

    espeak: list[str]
    """espeak-ng accents, e.g. "en-us", "en-gb-x-rp"."""
    pico: list[str]
    """SVOX Pico voices, e.g. "pico:en-GB"."""
    piper: list[str]
    """Piper voice files in the server's voices folder, e.g. "piper:en_US-joe-medium"."""


class SynthesisLanguage(msgspec.Struct):
    """A language code a synthesize request may name, the engines that speak it and their voices."""

    code: str
    engines: list[str]
    """The engines with a voice for it ("espeak", "pico", "piper"): the ones a request may name in `engines`."""
    voices: EngineVoices
