"""The one versioned LRU behind the vector cache and the contact index cache."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from jarvis_mcp.adapters.contact_index import ContactIndex, ContactIndexCache
from jarvis_mcp.adapters.vector_cache import UserMatrix, VectorCache
from jarvis_mcp.adapters.versioned_lru import VersionedLru


@dataclass
class Entry:
    version: int
    size: int = 1


def lru(budget: int = 10) -> VersionedLru[str, Entry]:
    return VersionedLru(budget, size=lambda e: e.size)


def test_a_current_entry_is_a_hit_and_a_stale_one_a_miss() -> None:
    cache = lru()
    entry = Entry(version=3)
    cache.put("alice", entry)
    assert cache.get("alice", 3) is entry
    assert cache.get("alice", 4) is None  # another process wrote: the store's version moved on
    assert cache.get("bob", 3) is None


def test_advance_moves_a_current_entry_and_drops_a_stale_one() -> None:
    cache = lru()
    entry = Entry(version=3)
    cache.put("alice", entry)
    assert cache.advance("alice", 3, 4) is entry  # own write on a current entry: apply it in place
    assert entry.version == 4 and cache.get("alice", 4) is entry
    assert cache.advance("alice", 3, 5) is None  # the entry missed a write: it must be rebuilt
    assert "alice" not in cache and cache.get("alice", 4) is None
    assert cache.advance("nobody", 0, 1) is None


def test_eviction_by_budget_takes_the_least_recently_used() -> None:
    cache = lru(budget=10)
    cache.put("a", Entry(1, size=4))
    cache.put("b", Entry(1, size=4))
    assert cache.get("a", 1) is not None  # "a" is now the most recently used
    cache.put("c", Entry(1, size=4))
    assert "b" not in cache and "a" in cache and "c" in cache
    assert len(cache) == 2


def test_sizes_are_read_again_after_entries_grow_in_place() -> None:
    cache = lru(budget=10)
    grown = Entry(1, size=2)
    cache.put("a", grown)
    grown.size = 9  # e.g. a matrix appended to after advance()
    cache.put("b", Entry(1, size=2))
    assert "a" not in cache and "b" in cache


def test_an_entry_over_the_budget_is_kept_alone() -> None:
    cache = lru(budget=10)
    cache.put("small", Entry(1, size=2))
    cache.put("big", Entry(1, size=50))
    assert len(cache) == 1 and cache.get("big", 1) is not None


def test_drop_forgets_an_entry() -> None:
    cache = lru()
    cache.put("alice", Entry(1))
    cache.drop("alice")
    cache.drop("alice")  # dropping twice is harmless
    assert cache.get("alice", 1) is None


def test_concurrent_puts_and_gets_keep_the_budget() -> None:
    cache = lru(budget=50)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(500):
                key = f"u{(worker * 7 + i) % 40}"
                if cache.get(key, 1) is None:
                    cache.put(key, Entry(1, size=5))
                if i % 11 == 0:
                    cache.advance(key, 1, 1)
                if i % 17 == 0:
                    cache.drop(key)
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache) <= 10  # 50 / 5


def test_the_lock_is_reentrant_for_adapters_that_check_then_build() -> None:
    cache = lru()
    with cache.lock:
        cache.put("alice", Entry(1))
        assert cache.get("alice", 1) is not None


def test_the_vector_and_contact_caches_count_their_own_sizes() -> None:
    vectors = VectorCache(budget_bytes=1)
    assert isinstance(vectors, VersionedLru)
    vectors.put("alice", UserMatrix(version=1, dim=4))
    vectors.put("bob", UserMatrix(version=1, dim=4))
    assert len(vectors) == 2  # empty matrices weigh 0 bytes

    contacts = ContactIndexCache(budget_contacts=0)
    assert isinstance(contacts, VersionedLru)
    contacts.put("alice", ContactIndex(version=2))
    assert contacts.get("alice", 2) is not None and contacts.get("alice", 1) is None
