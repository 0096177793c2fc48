"""The voices each synthesis engine has, known without loading an engine, and how a request's voices are planned.

espeak-ng's and Pico's voices are tables of what their wheels ship (tests/test_synthesis_languages.py checks them
against the libraries themselves); Piper's are the voice files in the voices folder. The API refuses a language or
voice from these tables before it queues a job, and the worker plans with the same function over the real engines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

ENGINES = ("espeak", "pico", "piper")
ENGINE_NAMES = {"espeak": "espeak-ng", "pico": "Pico", "piper": "Piper"}
# How `voices` names a voice of each engine but espeak's, whose accents go as they are ("en-us").
PREFIXES = {"pico": "pico:", "piper": "piper:"}

# espeak-ng voice id -> the language codes it speaks, as `worker.synthesis.espeak` lists them from espeakng-loader
# 0.2.4 (voices without their dictionary in the wheel, and script-only voices, left out).
ESPEAK_VOICES: dict[str, tuple[str, ...]] = {
    "af": ("af",),
    "am": ("am",),
    "an": ("an",),
    "ar": ("ar",),
    "as": ("as",),
    "az": ("az",),
    "ba": ("ba",),
    "be": ("be",),
    "bg": ("bg",),
    "bn": ("bn",),
    "bpy": ("bpy",),
    "bs": ("bs",),
    "ca": ("ca",),
    "ca-ba": ("ca-ba",),
    "ca-nw": ("ca-nw",),
    "ca-va": ("ca-va",),
    "chr": ("chr-us-qaaa-x-west",),
    "cmn": ("cmn", "zh-cmn", "zh"),
    "cmn-latn-pinyin": ("cmn-latn-pinyin", "zh-cmn", "zh"),
    "cs": ("cs",),
    "cv": ("cv",),
    "cy": ("cy",),
    "da": ("da",),
    "de": ("de",),
    "el": ("el",),
    "en": ("en-gb", "en"),
    "en-029": ("en-029", "en"),
    "en-gb-scotland": ("en-gb-scotland", "en"),
    "en-gb-x-gbclan": ("en-gb-x-gbclan", "en-gb", "en"),
    "en-gb-x-gbcwmd": ("en-gb-x-gbcwmd", "en-gb", "en"),
    "en-gb-x-rp": ("en-gb-x-rp", "en-gb", "en"),
    "en-us": ("en-us", "en"),
    "en-us-nyc": ("en-us-nyc",),
    "eo": ("eo",),
    "es": ("es",),
    "es-419": ("es-419", "es-mx"),
    "et": ("et",),
    "eu": ("eu",),
    "fa": ("fa",),
    "fa-latn": ("fa-latn",),
    "fi": ("fi",),
    "fr": ("fr-fr", "fr"),
    "fr-be": ("fr-be", "fr"),
    "fr-ch": ("fr-ch", "fr"),
    "ga": ("ga",),
    "gd": ("gd",),
    "gn": ("gn",),
    "grc": ("grc",),
    "gu": ("gu",),
    "hak": ("hak",),
    "haw": ("haw",),
    "he": ("he",),
    "hi": ("hi",),
    "hr": ("hr", "hbs"),
    "ht": ("ht",),
    "hu": ("hu",),
    "hy": ("hy", "hy-arevela"),
    "hyw": ("hyw", "hy-arevmda", "hy"),
    "ia": ("ia",),
    "id": ("id",),
    "io": ("io",),
    "is": ("is",),
    "it": ("it",),
    "ja": ("ja",),
    "jbo": ("jbo",),
    "ka": ("ka",),
    "kk": ("kk",),
    "kl": ("kl",),
    "kn": ("kn",),
    "ko": ("ko",),
    "kok": ("kok",),
    "ku": ("ku",),
    "ky": ("ky",),
    "la": ("la",),
    "lb": ("lb",),
    "lfn": ("lfn",),
    "lt": ("lt",),
    "ltg": ("ltg",),
    "lv": ("lv",),
    "mi": ("mi",),
    "mk": ("mk",),
    "ml": ("ml",),
    "mr": ("mr",),
    "ms": ("ms",),
    "mt": ("mt",),
    "mto": ("mto",),
    "my": ("my",),
    "nb": ("nb", "no"),
    "nci": ("nci",),
    "ne": ("ne",),
    "nl": ("nl",),
    "nog": ("nog",),
    "om": ("om",),
    "or": ("or",),
    "pa": ("pa",),
    "pap": ("pap",),
    "piqd": ("piqd",),
    "pl": ("pl",),
    "pt": ("pt", "pt-pt"),
    "pt-br": ("pt-br", "pt"),
    "py": ("py",),
    "qdb": ("qdb",),
    "qu": ("qu",),
    "quc": ("quc",),
    "qya": ("qya",),
    "ro": ("ro",),
    "ru": ("ru",),
    "ru-cl": ("ru-cl",),
    "ru-lv": ("ru-lv",),
    "sd": ("sd",),
    "shn": ("shn",),
    "si": ("si",),
    "sjn": ("sjn",),
    "sk": ("sk",),
    "sl": ("sl",),
    "smj": ("smj",),
    "sq": ("sq",),
    "sr": ("sr",),
    "sv": ("sv",),
    "sw": ("sw",),
    "ta": ("ta",),
    "te": ("te",),
    "th": ("th",),
    "ti": ("ti",),
    "tk": ("tk",),
    "tn": ("tn",),
    "tr": ("tr",),
    "tt": ("tt",),
    "ug": ("ug",),
    "uk": ("uk",),
    "ur": ("ur",),
    "uz": ("uz",),
    "vi": ("vi",),
    "vi-vn-x-central": ("vi-vn-x-central",),
    "vi-vn-x-south": ("vi-vn-x-south",),
    "yue": ("yue", "zh-yue", "zh"),
    "yue-latn-jyutping": ("yue", "zh-yue", "zh"),
}
# The six voices py-nanotts ships.
PICO_VOICES = ("de-DE", "en-GB", "en-US", "es-ES", "fr-FR", "it-IT")

# Voices of one engine for one language, as `voices` names them; ValueError naming what there is when none.
VoicesOf = Callable[[str, str], list[str]]


def speaks(code: str, language: str) -> bool:
    """Whether a voice declaring language `code` speaks `language`: "en" takes en-us and en-gb, "en-us" only en-us."""
    code, language = code.lower(), language.lower()
    return code == language or code.startswith(language + "-")


def espeak_languages() -> list[str]:
    """Every language code some espeak-ng voice speaks."""
    return sorted({code for codes in ESPEAK_VOICES.values() for code in codes})


def espeak_voices(language: str) -> list[str]:
    """The espeak-ng voices (accents) for a language; ValueError naming the languages when there is none."""
    language = language.lower()
    found = sorted(voice for voice, codes in ESPEAK_VOICES.items() if any(speaks(code, language) for code in codes))
    if not found:
        raise ValueError(
            f"espeak-ng has no voice for language {language!r}; available: {', '.join(espeak_languages())}"
        )
    return found


def pico_voices(language: str) -> list[str]:
    """The Pico voices for a language; ValueError naming the voices when there is none."""
    found = [voice for voice in PICO_VOICES if speaks(voice, language)]
    if not found:
        raise ValueError(f"Pico has no voice for language {language.lower()!r}; voices: {', '.join(PICO_VOICES)}")
    return found


def plan_voices(
    language: str, voices: Sequence[str] | None, engines: Sequence[str] | None, voices_of: VoicesOf
) -> dict[str, list[str] | None]:
    """Engine -> the voices it may use (None: all of the language's), in ENGINES order; ValueError naming the
    engines, languages or voices there are when the request names others.

    `voices_of(engine, language)` gives an engine's voices for a language as `voices` names them ("pico:en-GB").
    """
    if engines is not None:
        unknown = [engine for engine in engines if engine not in ENGINES]
        if unknown or not engines:
            named = ", ".join(map(repr, unknown)) or "(none given)"
            raise ValueError(f"no synthesis engine {named}; available: {', '.join(ENGINES)}")
        chosen = [engine for engine in ENGINES if engine in engines]
    elif voices:
        chosen = [engine for engine in ENGINES if any(engine_of(voice) == engine for voice in voices)]
    else:
        chosen = [engine for engine in ENGINES if engine == "espeak" or _has_voices(voices_of, engine, language)]
    available = {engine: voices_of(engine, language) for engine in chosen}  # unknown language: fails
    plan: dict[str, list[str] | None] = dict.fromkeys(chosen)
    if voices is None:
        return plan
    voices = list(dict.fromkeys(voices))
    listed = [voice for engine in chosen for voice in available[engine]]
    unknown = sorted(set(voices) - set(listed))
    if unknown or not voices:
        raise ValueError(
            f"{' or '.join(ENGINE_NAMES[e] for e in chosen)} has no {language!r} voice "
            f"{', '.join(map(repr, unknown)) or '(none given)'}; available: {', '.join(listed)}"
        )
    for engine in chosen:
        prefix = PREFIXES.get(engine, "")
        named = [voice.removeprefix(prefix) for voice in voices if voice in available[engine]]
        plan[engine] = named or None
    return plan


def engine_of(voice: str) -> str:
    """The engine a voice as `voices` names it belongs to."""
    return next((engine for engine, prefix in PREFIXES.items() if voice.startswith(prefix)), "espeak")


def _has_voices(voices_of: VoicesOf, engine: str, language: str) -> bool:
    try:
        return bool(voices_of(engine, language))
    except ValueError:
        return False
