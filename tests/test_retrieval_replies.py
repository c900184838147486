"""Two rules that find the evidence in long conversations (memory/ranking.py): a question turn hands its
rank to the reply after it, and the floor's keyword test counts only words the user's memories hold.
Spanish and English, through the real SQLite store and the multilingual default embedder, and the pure
functions with given numbers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_memory_service import fixed_service

from jarvis_mcp.adapters.use_embedder import UseMultilingualEmbedder
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.memory import ranking
from jarvis_mcp.memory.ranking import QUESTION_DISCOUNT, REPLY_GAP, Scored
from jarvis_mcp.memory.service import MemoryService, Turn
from jarvis_mcp.runtime import Runtime


@pytest.fixture(scope="module")
def multilingual() -> UseMultilingualEmbedder:
    model = UseMultilingualEmbedder()
    model.embed(["warm up"])
    return model


@pytest.fixture
def runtime(tmp_path: Path, multilingual: UseMultilingualEmbedder) -> Iterator[Runtime]:
    rt = open_runtime(Settings(home=tmp_path / "home", user="local", cache_mb=0), embedder=multilingual)
    yield rt
    rt.close()


def memory_of(rt: Runtime, user: str) -> MemoryService:
    return rt.scope_for(rt.store.user_for_identity("local", user, "local", None)).memory


def log(memory: MemoryService, turns: list[tuple[str, str]]) -> list[str]:
    at = datetime(2025, 5, 6, 10, 0, tzinfo=UTC)
    messages = [Turn(role=r, content=t, at=at + timedelta(minutes=i)) for i, (r, t) in enumerate(turns)]
    return memory.log_conversation(messages).memory_ids


# -- a question hands its rank to its reply ------------------------------------------------------------

def s(seq: int, score: float, sim: float | None = None) -> Scored:
    return Scored(seq, score, sim, 0.0, False)


def test_a_reply_ranks_just_below_its_question_and_the_question_drops() -> None:
    out = ranking.carry_to_replies([s(1, 0.60, 0.6), s(5, 0.50, 0.5), s(2, 0.10, 0.1)], {1: 2})
    assert [(x.seq, round(x.score, 6)) for x in out] == [
        (2, round(0.60 - REPLY_GAP, 6)), (5, 0.50), (1, round(0.60 - QUESTION_DISCOUNT, 6))]
    assert out[0].similarity == 0.1  # the reply keeps its own cosine


def test_a_reply_not_among_the_candidates_joins_and_a_better_one_keeps_its_score() -> None:
    joined = ranking.carry_to_replies([s(1, 0.60, 0.6)], {1: 2})
    assert [(x.seq, x.similarity) for x in joined][0] == (2, None)
    kept = ranking.carry_to_replies([s(2, 0.90, 0.9), s(1, 0.60, 0.6)], {1: 2})
    assert kept[0] == s(2, 0.90, 0.9)
    assert ranking.carry_to_replies([s(1, 0.6), s(2, 0.1)], {}) == [s(1, 0.6), s(2, 0.1)]


@pytest.mark.parametrize(("text", "only_asks"), [
    ("And what did the garage say?", True), ("¿Y qué te dijeron en el taller?", True),
    ("¡Qué suerte! ¿Qué ha preparado?", True), ("Lucky you! What did they make?", True),
    ("Usually that's over-proofing or a weak starter. How long is your bulk fermentation?", False),
    ("Suele ser por fermentar de más: ¿cuánto dura tu primera fermentación?", False),
    ("They had to replace the battery.", False), ("Que había que cambiar la batería.", False),
])
def test_only_a_turn_that_only_asks_hands_on_its_rank(text: str, only_asks: bool) -> None:
    assert ranking.asks_only(text) is only_asks


def test_a_turn_that_answers_and_then_asks_keeps_its_rank(runtime: Runtime) -> None:
    memory = memory_of(runtime, "alice")
    ids = log(memory, [("user", "My sourdough keeps coming out flat."),
                       ("assistant", "Usually that's over-proofing or a weak starter. How long is your bulk fermentation?"),
                       ("user", "About 10 hours on the counter overnight."),
                       ("user", "I read for a while before lunch.")])
    hits = [h.id for h in memory.search("Why is my bread not rising?", top_k=5).hits]
    assert ids[1] in hits[:2], hits
    assert hits.index(ids[1]) < hits.index(ids[2]) if ids[2] in hits else True


@pytest.mark.parametrize("turns", [
    pytest.param(lambda: [("user", "Ya tengo el coche de vuelta."), ("assistant", "¿Y qué te dijeron en el taller?"),
                          ("user", "Que había que cambiar la batería. Me cobraron 240 euros."),
                          ("assistant", "Vaya, no es poco."), ("user", "Esta noche hay partido y Miguel quiere verlo."),
                          ("assistant", "¡Que lo disfrutéis!"), ("user", "He leído un rato antes de comer.")], id="es"),
    pytest.param(lambda: [("user", "I've got the car back."), ("assistant", "And what did the garage say?"),
                          ("user", "They had to replace the battery. It came to 240 euros."),
                          ("assistant", "Ouch, not cheap."), ("user", "There's a match tonight and Priya wants to watch it."),
                          ("assistant", "Enjoy it!"), ("user", "I read for a while before lunch.")], id="en"),
])
@pytest.mark.parametrize("query", ["¿Qué me dijeron en el taller del coche?", "What did the garage tell me about the car?"])
def test_the_answer_to_a_question_turn_comes_before_the_question(runtime: Runtime, turns, query: str) -> None:
    memory = memory_of(runtime, "alice")
    ids = log(memory, turns())
    question, reply = ids[1], ids[2]
    hits = [h.id for h in memory.search(query, top_k=5).hits]
    assert hits[0] == reply, hits
    assert question not in hits[:1]


def test_a_reply_is_never_taken_from_another_users_conversation(runtime: Runtime) -> None:
    alice, bob = memory_of(runtime, "alice"), memory_of(runtime, "bob")
    alice_ids = log(alice, [("user", "Ya tengo el coche de vuelta."), ("assistant", "¿Y qué te dijeron en el taller?")])
    # Bob's turn is written right after alice's question: the next seq, but not her conversation.
    bob_ids = log(bob, [("user", "Que había que cambiar la batería. Me cobraron 240 euros.")])
    found = [h.id for h in alice.search("¿Qué me dijeron en el taller?", top_k=5).hits]
    assert alice_ids[1] in found  # her question, the last turn of its conversation, still found
    assert not set(found) & set(bob_ids)


# -- the floor counts the words the memories hold ------------------------------------------------------

@pytest.mark.parametrize(("query", "stats"), [
    ("¿A qué actividad me apunté?", {"actividad": 0, "apunte": 2}),
    ("Which hobby did I sign up for?", {"hobby": 0, "sign": 2}),
])
def test_a_word_no_memory_holds_does_not_keep_a_keyword_match_under_the_floor(embedder, query: str, stats) -> None:
    texts = {1: "Me he apuntado a clases de fotografía los martes", 2: "I sign up for pottery on Tuesdays",
             3: "lunch plans"}
    wanted = 1 if "apunt" in query else 2
    service, _ = fixed_service(embedder, by_vector=[(3, 0.05)], by_keyword=[wanted], texts=texts, stats=(300, stats))
    hits = service.search(query, top_k=5).hits
    assert [h.id for h in hits] == [f"m{wanted}"]  # a keyword match alone, far under the cosine floor
    assert hits[0].similarity is None
    # The same words, each written somewhere: the rare one missing from the memory, the match is not strong.
    written = {k: 1 if v == 0 else 50 for k, v in stats.items()}
    service, _ = fixed_service(embedder, by_vector=[(3, 0.05)], by_keyword=[wanted], texts=texts, stats=(300, written))
    assert service.search(query, top_k=5).hits == []


def test_written_only_keeps_the_words_with_a_document_count() -> None:
    assert ranking.written_only({"a": 2.0, "b": 5.0, "c": 1.0}, {"a": 3, "b": 0}) == {"a": 2.0}
