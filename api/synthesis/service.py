"""What the synthesis engines can speak, from their voice tables and the Piper voices folder: no engine is loaded."""

from __future__ import annotations

import asyncio
from pathlib import Path

from api.errors import InvalidInput
from api.jobs.schemas import SynthesizeRequest
from api.synthesis import schemas
from shared.piper_voices import PiperVoice, find_voices, voices_for
from shared.synthesis_voices import (
    ENGINES,
    PICO_VOICES,
    PREFIXES,
    VoicesOf,
    espeak_languages,
    espeak_voices,
    pico_voices,
    plan_voices,
    speaks,
)

LANGUAGES_HINT = "GET /synthesis/languages lists every language with its voices"


async def piper_voices(folder: Path) -> dict[str, PiperVoice]:
    """The usable Piper voices in the folder, read off the event loop."""
    return await asyncio.to_thread(find_voices, folder)


def languages(piper: dict[str, PiperVoice]) -> list[schemas.SynthesisLanguage]:
    """Every language code some engine speaks, by code, with each engine's voices for it."""
    codes = {*espeak_languages(), *(voice.lower() for voice in PICO_VOICES), *(v.language for v in piper.values())}
    listed = []
    for code in sorted(codes):
        voices = schemas.EngineVoices(
            espeak=_espeak_voices(code),
            pico=[PREFIXES["pico"] + voice for voice in PICO_VOICES if speaks(voice, code)],
            piper=[PREFIXES["piper"] + name for name in voices_for(code, piper)],
        )
        engines = [engine for engine in ENGINES if getattr(voices, engine)]
        listed.append(schemas.SynthesisLanguage(code=code, engines=engines, voices=voices))
    return listed


def check_request(request: SynthesizeRequest, piper: dict[str, PiperVoice], folder: Path) -> None:
    """InvalidInput naming what there is when the engines have no voice for the language, or not the voices named.

    The worker plans the same request with the same function over the real engines.
    """
    try:
        plan_voices(request.language, request.voices, request.engines, _voices_of(piper, folder))
    except ValueError as exc:
        raise InvalidInput(f"{exc}; {LANGUAGES_HINT}") from None


def _voices_of(piper: dict[str, PiperVoice], folder: Path) -> VoicesOf:
    def voices_of(engine: str, language: str) -> list[str]:
        if engine == "pico":
            return [PREFIXES[engine] + voice for voice in pico_voices(language)]
        if engine == "piper":
            found = voices_for(language, piper)
            if not found:
                raise ValueError(
                    f"no Piper voice speaks {language.lower()!r} in {folder}; put a voice's <name>.onnx and "
                    f"<name>.onnx.json there (WAKE_TRAINING_PIPER_VOICES_DIR); voices there: "
                    f"{', '.join(piper) or 'none'}"
                )
            return [PREFIXES[engine] + name for name in found]
        return espeak_voices(language)

    return voices_of


def _espeak_voices(code: str) -> list[str]:
    try:
        return espeak_voices(code)
    except ValueError:  # a code only Pico or a Piper voice speaks
        return []
