"""Texts to speak: a phrase's words, its near misses and ordinary sentences that do not hold it."""

from __future__ import annotations

import itertools
import re

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


def words(phrase: str) -> list[str]:
    """The phrase's words in lower case, without punctuation: "Hey, Jarvis!" -> ["hey", "jarvis"]."""
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
    parts = words(phrase)
    if not parts:
        raise ValueError("the phrase has no words")
    target = " ".join(parts)
    candidates: list[str] = []
    # Order-keeping sub-sequences: all of them for short phrases, contiguous runs for long ones.
    if len(parts) <= 6:
        for size in range(1, len(parts)):
            candidates += [" ".join(c) for c in itertools.combinations(parts, size)]
    else:
        candidates += [
            " ".join(parts[i : i + size]) for size in range(1, len(parts)) for i in range(len(parts) - size + 1)
        ]
    content = [i for i, w in enumerate(parts) if w not in _FUNCTION_WORDS and len(w) >= 3]
    if not content:
        content = [i for i, w in enumerate(parts) if len(w) >= 2]
    for i in content:
        for other in _swapped_onsets(parts[i]) + _clipped(parts[i]):
            candidates.append(" ".join([*parts[:i], other, *parts[i + 1 :]]))
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
    target = " ".join(words(phrase))
    return [s for s in _SENTENCES.get(base, _SENTENCES["en"]) if not target or target not in " ".join(words(s))]


def sound_alikes_first(phrase: str) -> list[str]:
    """The phrase's near misses, those as long as the phrase first ("hey travis" before "jarvis"): the ones a user
    says in a recording session, where only a couple fit, are then the likeliest to be mistaken for it."""
    length = len(words(phrase))
    misses = near_misses(phrase)
    return [m for m in misses if len(m.split()) == length] + [m for m in misses if len(m.split()) != length]
