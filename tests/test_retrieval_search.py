"""search_memory in Spanish and English, across them, and honest about having nothing: the multilingual
default embedder through the in-process MCP client, and the ranking rules through the service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client
from test_memory_service import fixed_service
from test_memory_tools import ok, remember, search

from jarvis_mcp.adapters.use_embedder import UseMultilingualEmbedder
from jarvis_mcp.config import Settings
from jarvis_mcp.memory import ranking
from jarvis_mcp.memory.service import NEAR_DUPLICATE
from jarvis_mcp.server import build_server


@pytest.fixture(scope="module")
def multilingual() -> UseMultilingualEmbedder:
    model = UseMultilingualEmbedder()
    model.embed(["warm up"])
    return model


@pytest.fixture
def client(settings_for: Callable[..., Settings], multilingual: UseMultilingualEmbedder):
    @asynccontextmanager
    async def open_client(user: str = "local", **overrides: Any) -> AsyncIterator[Client]:
        async with Client(build_server(settings_for(user, **overrides), embedder=multilingual)) as c:
            yield c
    return open_client


MEMORIES = {
    "itv": "Hay que pasar la ITV del coche en mayo",
    "service": "The car needs its yearly service in April",
    "football": "El partido de fútbol es el domingo a las once",
    "boots": "I must check my football boots before Sunday's match",
    "passport": "My passport expires in March 2031",
    "luna": "Mi perra Luna es alérgica al pollo",
}


async def store_all(c: Client) -> dict[str, str]:
    return {k: (await remember(c, text))["memory"]["id"] for k, text in MEMORIES.items()}


async def test_spanish_question_ranks_the_car_above_football(client) -> None:
    async with client("alice") as c:
        ids = await store_all(c)
        out = await search(c, "¿Cuándo hay que revisar el coche?", top_k=3)
        top2 = {h["id"] for h in out["hits"][:2]}
        assert top2 == {ids["itv"], ids["service"]}  # the English one found from Spanish too


@pytest.mark.parametrize(("query", "wanted"), [
    ("¿Cuándo caduca mi pasaporte?", "passport"),  # es -> en
    ("Is my dog allergic to anything?", "luna"),   # en -> es
    ("What time does the soccer game start?", "football"),  # en -> es
    ("¿Cuándo revisan el coche por el servicio anual?", "service"),  # es -> en
])
async def test_questions_find_memories_in_the_other_language(client, query: str, wanted: str) -> None:
    async with client("alice") as c:
        ids = await store_all(c)
        out = await search(c, query, top_k=5)
        assert out["hits"][0]["id"] == ids[wanted], [h["text"] for h in out["hits"]]


@pytest.mark.parametrize("query", ["What is the capital of Australia?", "¿Cuánto mide el Everest?"])
async def test_nothing_relevant_returns_nothing_and_says_so(client, query: str) -> None:
    async with client("alice") as c:
        await store_all(c)
        result = await c.call_tool("search_memory", {"query": query})
        assert result.structured_content["hits"] == []
        assert result.content[0].text.startswith(f"No memory matches {query!r}")
        assert result.structured_content["relevance_floor"] == pytest.approx(UseMultilingualEmbedder.relevance_floor)


async def test_a_spanish_paraphrase_is_a_near_duplicate_of_the_english_memory(client) -> None:
    async with client("alice") as c:
        first = (await remember(c, "My passport expires in March 2031"))["memory"]["id"]
        again = await remember(c, "Mi pasaporte caduca en marzo de 2031")
        assert again["created"] is True  # stored anyway, and reported
        assert [s["id"] for s in again["similar"]] == [first]
        back = await remember(c, "Mi pasaporte vence en marzo del 2031")
        assert first in {s["id"] for s in back["similar"]}
        other = await remember(c, "Mi perra Luna es alérgica al pollo")
        assert other["similar"] == []


async def test_near_duplicates_are_not_looked_up_in_another_users_memories(client) -> None:
    async with client("alice") as alice, client("bob") as bob:
        await remember(alice, "My passport expires in March 2031")
        assert (await remember(bob, "Mi pasaporte caduca en marzo de 2031"))["similar"] == []
        out = await search(bob, "When does my passport expire?")
        assert [h["text"] for h in out["hits"]] == ["Mi pasaporte caduca en marzo de 2031"]


async def test_the_threshold_in_the_settings_wins_over_the_models(client) -> None:
    async with client("alice", near_duplicate_threshold=0.99) as c:
        await remember(c, "My passport expires in March 2031")
        assert (await remember(c, "Mi pasaporte caduca en marzo de 2031"))["similar"] == []


def test_search_rejects_bad_input_naming_the_field(embedder) -> None:
    service, fake = fixed_service(embedder, by_vector=[], by_keyword=[])
    for kwargs, field in [({"top_k": 0}, "top_k"), ({"kinds": ["nope"]}, "kinds")]:
        with pytest.raises(Exception) as bad:
            service.search("coche", **kwargs)
        assert getattr(bad.value, "field", None) == field
    assert fake.filters == []  # nothing was searched


class _Floored:
    """An embedder saying where its own floor and duplicate threshold are."""

    def __init__(self, inner: Any, floor: float, duplicate: float | None = None) -> None:
        self.inner, self.relevance_floor = inner, floor
        self.model_id, self.dim = inner.model_id, inner.dim
        if duplicate is not None:
            self.duplicate_threshold = duplicate

    def embed(self, texts: list[str]) -> Any:
        return self.inner.embed(texts)


def test_the_floor_is_the_embedders_and_a_strong_keyword_match_passes_it(embedder) -> None:
    texts = {1: "lunch plans", 2: "el IBAN de la cuenta nueva", 3: "weekly meeting notes", 4: "nota sin más"}
    hits = lambda service: [h.id for h in service.search("IBAN cuenta", top_k=5).hits]  # noqa: E731
    # 1 is close enough by meaning; 2 is a strong keyword match found by keywords alone; 3 is noise; 4
    # shares no word and was never a vector hit.
    args = dict(by_vector=[(1, 0.41), (3, 0.12)], by_keyword=[2], texts=texts, stats=(100, {"iban": 1, "cuenta": 3}))
    service, _ = fixed_service(embedder, **args)
    assert hits(service) == ["m1", "m2"]  # MiniLM's default floor
    service, _ = fixed_service(_Floored(embedder, 0.5), **args)
    assert hits(service) == ["m2"]  # the model's own, higher floor
    service, _ = fixed_service(_Floored(embedder, 0.05), **args)
    assert hits(service) == ["m1", "m2", "m3"]
    assert service.relevance_floor == 0.05
    assert fixed_service(embedder, **args)[0].relevance_floor == ranking.DEFAULT_RELEVANCE_FLOOR


def test_the_duplicate_threshold_comes_from_the_embedder_unless_set(embedder) -> None:
    from jarvis_mcp.memory.service import MemoryService
    plain = MemoryService("u", None, None, embedder, timezone=None)  # type: ignore[arg-type]
    assert plain.near_duplicate == NEAR_DUPLICATE
    own = MemoryService("u", None, None, _Floored(embedder, 0.2, 0.6), timezone=None)  # type: ignore[arg-type]
    assert own.near_duplicate == 0.6
    set_ = MemoryService("u", None, None, _Floored(embedder, 0.2, 0.6), timezone=None, near_duplicate=0.9)  # type: ignore[arg-type]
    assert set_.near_duplicate == 0.9


async def test_search_result_is_structured_and_says_what_it_found(client) -> None:
    async with client("alice") as c:
        await store_all(c)
        result = await c.call_tool("search_memory", {"query": "passport"})
        data = ok(result)
        assert data["hits"][0]["text"] == MEMORIES["passport"]
        assert result.content[0].text.startswith(f"{len(data['hits'])} memories found for 'passport'.")


async def test_a_bare_reply_is_found_through_the_turn_before_it(client) -> None:
    """Turns are embedded with their date, speaker and the turn before (memory/context.py): "It came to 150
    euros" alone says nothing of a garage; stored, it is still the reply as said."""
    turns = [
        {"role": "user", "content": "Took the car to the garage this morning", "at": "2025-05-08T09:00:00+00:00"},
        {"role": "assistant", "content": "What did the mechanic say?", "at": "2025-05-08T09:01:00+00:00"},
        {"role": "user", "content": "They had to replace the battery. It came to 150 euros.", "at": "2025-05-08T09:02:00+00:00"},
        {"role": "user", "content": "Dinner with Marta was lovely", "at": "2025-05-09T21:00:00+00:00"},
        {"role": "assistant", "content": "Glad to hear it! What did you have?", "at": "2025-05-09T21:01:00+00:00"},
        {"role": "user", "content": "Paella and a bottle of white wine, 60 euros.", "at": "2025-05-09T21:02:00+00:00"},
    ]
    async with client("alice") as c:
        ids = ok(await c.call_tool("log_conversation", {"messages": turns}))["memory_ids"]
        out = await search(c, "¿Cuánto me cobraron en el taller?")
        assert out["hits"][0]["id"] == ids[2]
        assert out["hits"][0]["text"] == "They had to replace the battery. It came to 150 euros."
        other = await search(c, "How much was the dinner?")
        assert ids[5] in [h["id"] for h in other["hits"][:2]]


@pytest.mark.parametrize("query", [
    "What noise was the car making, and which part did they replace?",
    "¿Qué ruido hacía el coche y qué pieza le cambiaron?",
])
async def test_two_questions_in_one_get_both_answers(client, query: str) -> None:
    """Each question of "X, and Y?" is searched alone and the results interleaved (memory/ranking.py)."""
    async with client("alice") as c:
        noise = (await remember(c, "The car was making a squeaking noise when braking"))["memory"]["id"]
        part = (await remember(c, "The garage replaced the front brake pads"))["memory"]["id"]
        for text in ["The car's tyres were replaced in 2023", "El coche tiene la ITV en mayo",
                     "Car insurance renews every March", "El taller cierra los lunes"]:
            await remember(c, text)
        out = await search(c, query, top_k=2)
        assert {h["id"] for h in out["hits"]} == {noise, part}
