"""`GET /datasets/{name}/prompts`: what the guided recording asks a user to say besides the wake phrase."""

from __future__ import annotations

from litestar.testing import TestClient

from shared.phrases import words
from tests.conftest import create_dataset


def test_the_prompts_are_everyday_sentences_and_sound_alikes_of_the_wake_phrase_first(client: TestClient) -> None:
    create_dataset(client, "kitchen", wake_phrase="Hey Jarvis")
    prompts = client.get("/datasets/kitchen/prompts").json()
    assert prompts["wake_phrase"] == "Hey Jarvis" and prompts["language"] == "en"
    assert prompts["near_misses"][:2] == ["hey travis", "hey harvis"]
    assert {"hey", "jarvis"} <= set(prompts["near_misses"][2:]), "the parts alone come after the sound-alikes"
    assert "hey jarvis" not in prompts["near_misses"]
    assert len(prompts["sentences"]) >= 5
    assert not any("hey jarvis" in " ".join(words(s)) for s in prompts["sentences"])


def test_sentences_come_in_the_language_asked_for_and_in_english_where_there_are_none(client: TestClient) -> None:
    create_dataset(client, "kueche", wake_phrase="hallo computer")
    german = client.get("/datasets/kueche/prompts", params={"language": "de"}).json()
    english = client.get("/datasets/kueche/prompts", params={"language": "xx"}).json()
    assert "wie spät ist es" in german["sentences"]
    assert "what time is it" in english["sentences"]


def test_without_a_wake_phrase_there_are_sentences_but_no_near_misses(client: TestClient) -> None:
    create_dataset(client, "blank")
    prompts = client.get("/datasets/blank/prompts").json()
    assert prompts["near_misses"] == [] and "what time is it" in prompts["sentences"]


def test_prompts_of_an_unknown_dataset_are_404_and_a_bad_language_is_422(client: TestClient) -> None:
    assert client.get("/datasets/nope/prompts").status_code == 404
    create_dataset(client, "kitchen")
    response = client.get("/datasets/kitchen/prompts", params={"language": "x" * 33})
    assert response.status_code == 422
    assert response.json()["status_code"] == 422
