"""MemoryService without MCP: rank fusion, filters handed to both retrievers, and several processes on one file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.memory.ports import MemoryFilter, MemoryRecord
from jarvis_mcp.memory.service import KEYWORD_WEIGHT, MemoryInput, MemoryService


class FixedRetrievers:
    """A store and an index whose rankings are given, recording the filters they are asked with."""

    def __init__(self, by_vector: list[tuple[int, float]], by_keyword: list[int],
                 texts: dict[int, str] | None = None, stats: tuple[int, dict[str, int]] = (0, {})) -> None:
        self.by_vector = by_vector
        self.by_keyword = by_keyword
        self.texts = texts or {}
        self.stats = stats
        self.filters: list[tuple[str, MemoryFilter]] = []

    def search(self, user_id: str, vector: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        self.filters.append(("vector", flt))
        return self.by_vector[:limit]

    def keyword_search(self, user_id: str, terms: Sequence[str], flt: MemoryFilter, limit: int) -> list[int]:
        self.filters.append(("keyword", flt))
        return self.by_keyword[:limit]

    def memories_by_seq(self, user_id: str, seqs: Sequence[int]) -> list[MemoryRecord]:
        return [MemoryRecord(seq=s, id=f"m{s}", kind="note", text=self.texts.get(s, f"text {s}"), tags=(),
                             occurred_at=None, created_at=1_700_000_000.0) for s in seqs]

    def keyword_stats(self, user_id: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        return self.stats


def fixed_service(embedder, by_vector: list[tuple[int, float]], by_keyword: list[int],
                  **kwargs) -> tuple[MemoryService, FixedRetrievers]:
    fake = FixedRetrievers(by_vector, by_keyword, **kwargs)
    return MemoryService("u1", fake, fake, embedder, timezone=None, near_duplicate=0.92), fake  # type: ignore[arg-type]


def test_a_rare_query_word_outweighs_a_closer_vector_hit_and_a_common_word_does_not(embedder) -> None:
    texts = {1: "notes from the weekly meeting", 2: "lunch plans", 3: "zephyrine called about the lease",
             4: "another meeting moved"}
    service, _ = fixed_service(
        embedder, by_vector=[(1, 0.50), (2, 0.45), (3, 0.30)], by_keyword=[3, 4, 1], texts=texts,
        stats=(1000, {"zephyrine": 1, "meeting": 500}),
    )
    hits = service.search("zephyrine meeting", top_k=5).hits
    # m4 shares only the common word and the vectors never found it: below the floor, not returned.
    assert [h.id for h in hits] == ["m1", "m3", "m2"]
    rare, common = math.log(1001 / 1.5), math.log(1001 / 500.5)
    share_of_rare = rare / (rare + common)
    by_id = {h.id: h for h in hits}
    assert by_id["m3"].score == round(0.30 + KEYWORD_WEIGHT * share_of_rare, 6)
    assert by_id["m1"].score == round(0.50 + KEYWORD_WEIGHT * (1 - share_of_rare), 6)
    assert (by_id["m3"].vector_rank, by_id["m3"].keyword_rank, by_id["m3"].similarity) == (3, 1, 0.3)
    assert [h.id for h in service.search("zephyrine meeting", top_k=2).hits] == ["m1", "m3"]


def test_filters_go_to_both_retrievers(embedder) -> None:
    service, fake = fixed_service(embedder, by_vector=[], by_keyword=[])
    service.timezone = "Europe/Madrid"
    service.search("trip", kinds=["event", "event", "conversation"], tags=["Travel", "work"],
                   since=datetime(2024, 1, 1), until=datetime(2024, 2, 1, tzinfo=UTC))
    expected = MemoryFilter(
        kinds=("event", "conversation"), tags=("travel", "work"),
        since=datetime(2023, 12, 31, 23, 0, tzinfo=UTC).timestamp(),  # naive: read in the user's time zone
        until=datetime(2024, 2, 1, tzinfo=UTC).timestamp(),
    )
    assert fake.filters == [("vector", expected), ("keyword", expected)]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"query": ""}, "query"), ({"query": "x", "top_k": 0}, "top_k"), ({"query": "x", "top_k": 51}, "top_k"),
     ({"query": "x", "kinds": ["gossip"]}, "kinds"),
     ({"query": "x", "since": datetime(2024, 2, 1, tzinfo=UTC), "until": datetime(2024, 1, 1, tzinfo=UTC)}, "since")],
)
def test_search_input_errors_name_the_field(embedder, kwargs: dict, field: str) -> None:
    service, fake = fixed_service(embedder, by_vector=[], by_keyword=[])
    with pytest.raises(InvalidInput) as bad:
        service.search(**kwargs)
    assert bad.value.field == field
    assert fake.filters == []  # rejected before any retrieval


def test_remember_many_is_all_or_nothing(runtime) -> None:
    rt = runtime("alice")
    user = rt.local_user_id()
    memory = rt.scope_for(user).memory
    with pytest.raises(InvalidInput) as bad:
        memory.remember_many([MemoryInput("fine"), MemoryInput("also fine"), MemoryInput(" ", kind="fact")])
    assert bad.value.field == "items[2].text"
    assert rt.store.count_memories(user) == 0
    results = memory.remember_many([MemoryInput("Same words"), MemoryInput("same  WORDS"), MemoryInput("Other")])
    assert [r.created for r in results] == [True, False, True]
    assert results[1].duplicate_of == results[0].memory.id
    assert rt.store.count_memories(user) == 2


def test_a_second_runtime_sees_writes_and_deletes(runtime) -> None:
    """Two processes on one file: each one's vector cache must follow the other's writes (index_version)."""
    rt1, rt2 = runtime("alice"), runtime("alice")
    user = rt1.local_user_id()
    assert rt2.local_user_id() == user
    one, two = rt1.scope_for(user).memory, rt2.scope_for(user).memory

    def vector_ids(service: MemoryService) -> set[str]:
        return set(service.search_mode("where are the keys", 50, "vector"))

    key = one.remember("The spare key is under the blue flowerpot").memory.id
    assert vector_ids(two) == {key}  # two's cache is now loaded
    assert vector_ids(one) == {key}  # and one's

    garage = one.remember("The garage door code is 8812").memory.id
    assert vector_ids(two) == {key, garage}
    assert two.search("garage door code 8812", top_k=1).hits[0].id == garage

    assert one.forget([key]).forgotten == [key]
    assert vector_ids(two) == {garage}
    assert key not in [h.id for h in two.search("spare key flowerpot", top_k=5).hits]
    assert [h.id for h in two.search("garage door code", top_k=5).hits] == [garage]

    # Both caches are current; two writes, then one writes on top of a version it never saw.
    bike = two.remember("The bike lock combination is 0451").memory.id
    shed = one.remember("The shed key hangs by the back door").memory.id
    assert vector_ids(one) == {garage, bike, shed}
    assert vector_ids(two) == {garage, bike, shed}
    assert two.forget([bike, shed]).forgotten == [bike, shed]
    assert vector_ids(one) == {garage}


def test_writes_of_another_user_leave_my_cache_alone(runtime) -> None:
    rt = runtime("alice")
    alice = rt.scope_for(rt.local_user_id()).memory
    bob_rt = runtime("bob")
    bob = bob_rt.scope_for(bob_rt.local_user_id()).memory
    mine = alice.remember("My passport is in the top drawer").memory.id
    assert alice.search_mode("passport", 10, "vector") == [mine]
    theirs = bob.remember("My passport is in the top drawer").memory.id
    assert theirs != mine
    assert alice.search_mode("passport", 10, "vector") == [mine]
    assert bob.search_mode("passport", 10, "vector") == [theirs]
    assert bob.forget([mine]).not_found == [mine]
    assert alice.get(mine).id == mine
