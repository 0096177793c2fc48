"""HTTP routes for what synthesis can speak."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from api.error_responses import errors
from api.synthesis import service
from api.synthesis.schemas import SynthesisLanguage
from shared.settings import Settings


@get("/synthesis/languages", tags=["synthesis"], responses=errors())
async def synthesis_languages(settings: NamedDependency[Settings]) -> list[SynthesisLanguage]:
    """Every language synthesis speaks, by code, with its espeak-ng, Pico and Piper voices (the voices folder's)."""
    return service.languages(await service.piper_voices(settings.resolved_piper_voices_dir))
