"""Keyword search by stems, on every store: Spanish and English word forms, accents either way, and the
per-user document counts hybrid ranking weighs words with (memory/keywords.py)."""

from __future__ import annotations

import uuid

import pytest

from jarvis_mcp.memory.ports import MemoryFilter, NewMemory
from jarvis_mcp.text import content_hash, fold, keyword_terms


def new_user(store) -> str:  # noqa: ANN001
    return store.user_for_identity("https://idp.test", f"kw-{uuid.uuid4()}", "local", None)


def add(store, embedder, user: str, text: str) -> int:  # noqa: ANN001
    item = NewMemory(kind="note", text=text, content_hash=content_hash(fold(text)))
    return store.insert_memories(user, [item], embedder.embed([text]))[0].seq


@pytest.mark.parametrize(("stored", "query"), [
    ("La revisión del coche es en marzo", "revisiones"),       # plural, accent on the stored side
    ("La revision del coche es en marzo", "revisión"),        # accent on the query side only
    ("Tengo que llevar el coche al taller", "coches"),
    ("Los coches eléctricos me interesan", "coche"),
    ("I run along the river every morning", "running"),
    ("Running shoes are size 42", "run"),
    ("Canciones para la boda de Sergio", "canción"),
    ("Café con José en la Plaza Mayor", "CAFE"),
])
def test_a_word_form_finds_the_other(store_index, embedder, stored: str, query: str) -> None:
    store, _ = store_index
    alice = new_user(store)
    seq = add(store, embedder, alice, stored)
    add(store, embedder, alice, "Something else entirely: the dentist on Friday")
    assert store.keyword_search(alice, keyword_terms(query), MemoryFilter(), 10) == [seq]
    total, df = store.keyword_stats(alice, keyword_terms(query))
    assert total == 2 and df == {keyword_terms(query)[0]: 1}


def test_stems_stay_within_their_owner(store_index, embedder) -> None:
    store, _ = store_index
    alice, bob = new_user(store), new_user(store)
    add(store, embedder, alice, "Las revisiones del coche de Alice")
    assert store.keyword_search(bob, ["revisión", "coches"], MemoryFilter(), 10) == []
    assert store.keyword_stats(bob, ["revisión"]) == (0, {"revisión": 0})


def test_unrelated_words_do_not_meet(store_index, embedder) -> None:
    store, _ = store_index
    alice = new_user(store)
    add(store, embedder, alice, "El partido de fútbol del domingo")
    assert store.keyword_search(alice, keyword_terms("revisar el coche"), MemoryFilter(), 10) == []
