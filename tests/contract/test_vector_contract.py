"""The VectorIndex port's contract over every index (see conftest.py): exact cosine ranking of one user's
memories, filters applied before ranking, deletions honoured, and never another user's rows.

Synthetic unit vectors of the embedder's dimension stand in for embeddings: the answer is checked
against a brute-force ranking computed here.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from jarvis_mcp.memory.ports import MemoryFilter, NewMemory, VectorIndex
from jarvis_mcp.store import Store

N = 120
KINDS = ("note", "task", "event")


def new_user(store: Store) -> str:
    return store.user_for_identity("https://idp.test", f"vec-{uuid.uuid4()}", "local", None)


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class Corpus:
    """One user's memories with known vectors, kinds, tags and times."""

    def __init__(self, store: Store, user: str, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.vectors = unit(rng, N, store.dim)  # type: ignore[attr-defined]
        self.kinds = [KINDS[i % 3] for i in range(N)]
        self.tags = [("even",) if i % 2 == 0 else ("odd", "x") for i in range(N)]
        self.ts = [1_700_000_000.0 + 3600 * i for i in range(N)]
        items = [NewMemory(kind=self.kinds[i], text=f"{user} memory {i}", content_hash=f"{user}-{i}",
                           tags=self.tags[i], occurred_at=self.ts[i]) for i in range(N)]
        self.seqs = [r.seq for r in store.insert_memories(user, items, self.vectors)]
        self.alive = np.ones(N, bool)

    def expected(self, query: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        keep = self.alive.copy()
        for i in range(N):
            if flt.kinds and self.kinds[i] not in flt.kinds:
                keep[i] = False
            if flt.tags and not set(self.tags[i]) & set(flt.tags):
                keep[i] = False
            if flt.since is not None and self.ts[i] < flt.since:
                keep[i] = False
            if flt.until is not None and self.ts[i] > flt.until:
                keep[i] = False
        rows = np.flatnonzero(keep)
        sims = self.vectors[rows] @ query
        order = np.argsort(-sims, kind="stable")[:limit]
        return [(self.seqs[rows[o]], float(sims[o])) for o in order]


def check(index: VectorIndex, user: str, corpus: Corpus, query: np.ndarray, flt: MemoryFilter, limit: int) -> None:
    got = index.search(user, query, flt, limit)
    want = corpus.expected(query, flt, limit)
    assert [s for s, _ in got] == [s for s, _ in want], flt
    assert [round(x, 4) for _, x in got] == pytest.approx([round(x, 4) for _, x in want], abs=2e-4)


FILTERS = [
    MemoryFilter(),
    MemoryFilter(kinds=("task",)),
    MemoryFilter(kinds=("task", "event")),
    MemoryFilter(tags=("even",)),
    MemoryFilter(tags=("x", "missing")),
    MemoryFilter(since=1_700_000_000.0 + 3600 * 100),
    MemoryFilter(until=1_700_000_000.0 + 3600 * 5),
    MemoryFilter(kinds=("note",), tags=("odd",), since=1_700_000_000.0 + 3600 * 30, until=1_700_000_000.0 + 3600 * 90),
]


def test_exact_cosine_ranking_with_filters_before_ranking(store_index) -> None:
    store, index = store_index
    user = new_user(store)
    corpus = Corpus(store, user, seed=1)
    rng = np.random.default_rng(2)
    for query in [*unit(rng, 3, store.dim), corpus.vectors[7]]:
        for flt in FILTERS:
            for limit in (1, 5, 200):
                check(index, user, corpus, query, flt, limit)
    # A stored vector finds itself first, with similarity 1.
    seq, sim = index.search(user, corpus.vectors[7], MemoryFilter(), 1)[0]
    assert seq == corpus.seqs[7] and sim == pytest.approx(1.0, abs=1e-5)


def test_a_filter_nothing_passes_gives_nothing(store_index) -> None:
    store, index = store_index
    user = new_user(store)
    corpus = Corpus(store, user, seed=3)
    q = corpus.vectors[0]
    assert index.search(user, q, MemoryFilter(tags=("nobody-has-this",)), 10) == []
    assert index.search(user, q, MemoryFilter(kinds=("person",)), 10) == []
    assert index.search(user, q, MemoryFilter(since=2_000_000_000.0), 10) == []


def test_deleted_memories_are_not_found(store_index) -> None:
    store, index = store_index
    user = new_user(store)
    corpus = Corpus(store, user, seed=4)
    index.search(user, corpus.vectors[0], MemoryFilter(), 5)  # warm any cache first
    doomed = [0, 1, 2, 50, 119]
    ids = [r.id for r in store.memories_by_seq(user, [corpus.seqs[i] for i in doomed])]
    assert sorted(store.delete_memories(user, ids)) == sorted(ids)
    corpus.alive[doomed] = False
    for i in doomed:
        check(index, user, corpus, corpus.vectors[i], MemoryFilter(), 10)
        check(index, user, corpus, corpus.vectors[i], MemoryFilter(tags=("even",)), 3)


def test_two_users_never_see_each_other(store_index) -> None:
    store, index = store_index
    alice, bob = new_user(store), new_user(store)
    a = Corpus(store, alice, seed=5)
    b = Corpus(store, bob, seed=5)  # the very same vectors: only the owner tells them apart
    a_seqs, b_seqs = set(a.seqs), set(b.seqs)
    for flt in FILTERS:
        for q in (a.vectors[3], b.vectors[60]):
            assert {s for s, _ in index.search(bob, q, flt, 500)} <= b_seqs
            assert {s for s, _ in index.search(alice, q, flt, 500)} <= a_seqs
            check(index, bob, b, q, flt, 7)
    ids = [r.id for r in store.memories_by_seq(alice, a.seqs[:10])]
    assert store.delete_memories(bob, ids) == []
    check(index, alice, a, a.vectors[0], MemoryFilter(), 10)


def test_a_user_without_memories_or_unknown_gets_nothing(store_index) -> None:
    store, index = store_index
    alice, bob = new_user(store), new_user(store)
    Corpus(store, alice, seed=6)
    q = np.zeros(store.dim, np.float32)
    q[0] = 1.0
    assert index.search(bob, q, MemoryFilter(), 10) == []
    assert index.search(str(uuid.uuid4()), q, MemoryFilter(), 10) == []
    assert index.search(bob, q, MemoryFilter(kinds=("note",)), 10) == []
