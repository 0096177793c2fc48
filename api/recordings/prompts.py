"""The prompts of a guided recording session: everyday sentences and near misses of the dataset's wake phrase."""

from __future__ import annotations

from api.recordings.schemas import RecordingPrompts
from shared.phrases import ordinary_sentences, sound_alikes_first, words


def recording_prompts(wake_phrase: str | None, language: str) -> RecordingPrompts:
    """The sentences and near misses a user records as negatives, in their own voice and room."""
    phrase = wake_phrase if wake_phrase and words(wake_phrase) else ""
    return RecordingPrompts(
        wake_phrase=wake_phrase,
        language=language,
        sentences=ordinary_sentences(language, phrase),
        near_misses=sound_alikes_first(phrase) if phrase else [],
    )
