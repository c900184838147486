"""The vector scan (adapters/vector_cache.py) returns exactly what brute force returns: the same rows in the
same order with the same scores, on one core or split across threads, filtered or not, after writes and
deletions, and for each user only that user's rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from jarvis_mcp.adapters import vector_cache
from jarvis_mcp.adapters.sqlite import SqliteStore
from jarvis_mcp.adapters.vector_cache import KIND_CODE, UserMatrix
from jarvis_mcp.memory.ports import MemoryFilter, NewMemory

DIM = 32


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute(vecs: np.ndarray, seqs: np.ndarray, q: np.ndarray, keep: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The reference: every kept row scored one by one, sorted by score then by position."""
    scored = [(float(np.dot(vecs[i], q)), i) for i in range(len(vecs)) if keep[i]]
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [(int(seqs[i]), s) for s, i in scored[:k]]


def matrix(rng: np.random.Generator, n: int) -> tuple[UserMatrix, np.ndarray, np.ndarray, np.ndarray]:
    m = UserMatrix(version=1, dim=DIM)
    seqs = np.arange(1, n + 1, dtype=np.int64) * 3
    vecs = unit(rng, n)
    kinds = rng.integers(0, len(KIND_CODE), n).astype(np.int8)
    ts = rng.uniform(0, 1000, n)
    m.append(seqs, vecs, kinds, ts)
    return m, vecs, kinds, ts


def same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert [s for s, _ in got] == [s for s, _ in want]
    assert np.allclose([x for _, x in got], [x for _, x in want], atol=1e-5)


@pytest.mark.parametrize("parallel_rows", [10**9, 100])  # one thread; split across threads
def test_the_scan_matches_brute_force(monkeypatch: pytest.MonkeyPatch, parallel_rows: int) -> None:
    monkeypatch.setattr(vector_cache, "PARALLEL_ROWS", parallel_rows)
    monkeypatch.setattr(vector_cache, "_SCAN_THREADS", 3)  # an uneven split, whatever the machine
    rng = np.random.default_rng(7)
    m, vecs, kinds, ts = matrix(rng, 2_000)
    seqs = m.seqs[: m.n]
    everything = np.ones(m.n, bool)
    for q in unit(rng, 20):
        for k in (1, 5, 50, 5_000):
            same(m.search(q, MemoryFilter(), None, k), brute(vecs, seqs, q, everything, k))
        flt = MemoryFilter(kinds=("event", "task"), since=200.0, until=800.0)
        keep = np.isin(kinds, [KIND_CODE["event"], KIND_CODE["task"]]) & (ts >= 200) & (ts <= 800)
        same(m.search(q, flt, None, 50), brute(vecs, seqs, q, keep, 50))
        tagged = seqs[::7]
        same(m.search(q, MemoryFilter(tags=("x",)), tagged, 20), brute(vecs, seqs, q, np.isin(seqs, tagged), 20))


def test_deleted_and_appended_rows_are_seen_by_the_next_search_with_the_same_query() -> None:
    """The same query vector twice reuses the first scan's scores; a write in between must not."""
    rng = np.random.default_rng(3)
    m, vecs, _, _ = matrix(rng, 500)
    q = unit(rng, 1)[0]
    first = m.search(q, MemoryFilter(), None, 10)
    m.version = 2
    m.remove(np.array([first[0][0]], np.int64))
    after_delete = m.search(q, MemoryFilter(), None, 10)
    assert first[0][0] not in [s for s, _ in after_delete] and after_delete[:9] == first[1:10]
    m.version = 3
    m.append(np.array([10_000], np.int64), q[None, :], np.array([0], np.int8), np.array([1.0]))
    assert m.search(q, MemoryFilter(), None, 1) == [(10_000, pytest.approx(1.0, abs=1e-5))]
    # The reused scores are the same ones a fresh scan computes, and callers cannot change them.
    scores = m.scores(q)
    assert scores is m.scores(q) and not scores.flags.writeable
    assert np.allclose(scores, m.vecs[: m.n] @ q)


def test_an_empty_matrix_and_filters_that_keep_nothing_return_nothing() -> None:
    rng = np.random.default_rng(5)
    q = unit(rng, 1)[0]
    assert UserMatrix(version=1, dim=DIM).search(q, MemoryFilter(), None, 5) == []
    m, _, _, _ = matrix(rng, 50)
    assert m.search(q, MemoryFilter(since=5_000.0), None, 5) == []
    m.remove(m.seqs[: m.n].copy())
    assert m.search(q, MemoryFilter(), None, 5) == []


def test_two_users_each_get_their_own_brute_force_top_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_cache, "PARALLEL_ROWS", 64)  # the threaded scan, on real stored vectors
    store = SqliteStore(tmp_path / "j.db")
    store.ensure_embedding_model("m", DIM)
    rng = np.random.default_rng(11)
    users = {name: store.user_for_identity("local", name, "local", None) for name in ("alice", "bob")}
    stored: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        for name, uid in users.items():
            vecs = unit(rng, 300)
            items = [NewMemory(kind="note", text=f"{name} {i}",
                               content_hash=hashlib.sha256(f"{name}{i}".encode()).hexdigest()) for i in range(300)]
            recs = store.insert_memories(uid, items, vecs)
            stored[name] = (vecs, np.array([r.seq for r in recs]))
        for q in unit(rng, 10):
            for name, uid in users.items():
                vecs, seqs = stored[name]
                want = brute(vecs, seqs, q, np.ones(len(seqs), bool), 20)
                got = store.search(uid, q, MemoryFilter(), 20)
                same(got, want)
                other = stored["bob" if name == "alice" else "alice"][1]
                assert not set(s for s, _ in got) & set(other.tolist())
    finally:
        store.close()


def low_rank(rng: np.random.Generator, n: int, dim: int, rank: int, noise: float) -> np.ndarray:
    """Unit vectors mostly inside a `rank`-dim subspace, as sentence embeddings mostly are."""
    v = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, dim)) + noise * rng.standard_normal((n, dim))
    v = v.astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("noise", [0.05, 1.4, 3.0])  # the subspace holds most of the vectors; it holds too little
def test_the_low_dimension_first_pass_returns_the_exact_top_hits(monkeypatch: pytest.MonkeyPatch, noise: float) -> None:
    from jarvis_mcp.adapters import vector_projection

    monkeypatch.setattr(vector_cache, "PROJECT_ROWS", 1_000)
    monkeypatch.setattr(vector_projection, "DIMS", 24)
    dim, n = 96, 4_000
    rng = np.random.default_rng(13)
    vecs = low_rank(rng, n, dim, 16, noise)
    m = UserMatrix(version=1, dim=dim)
    seqs = np.arange(1, n + 1, dtype=np.int64)
    kinds = rng.integers(0, len(KIND_CODE), n).astype(np.int8)
    m.append(seqs[:3_000], vecs[:3_000], kinds[:3_000], np.zeros(3_000))
    queries = low_rank(rng, 15, dim, 16, noise)
    m.search(queries[0], MemoryFilter(), None, 5)  # builds the projection
    if noise < 2:
        assert m.projection is not None and m.nbytes > m.vecs.nbytes + m.projection.low.nbytes
        # Rows written after the build are projected as they arrive, and found.
        m.append(seqs[3_000:], vecs[3_000:], kinds[3_000:], np.zeros(1_000))
        assert m.projection.n == m.n == n
        pruned = m.projection.candidates(vecs, queries[1], None, 50, lambda a, b: a @ b)
        assert noise > 1 or (pruned is not None and pruned.size < n // 4)  # the first pass pruned
    else:
        assert m.projection is None  # the subspace would hold too little: plain scans
        m.append(seqs[3_000:], vecs[3_000:], kinds[3_000:], np.zeros(1_000))
    m.remove(seqs[::5].copy())
    alive = np.ones(n, bool)
    alive[::5] = False
    keep = alive & np.isin(kinds, [KIND_CODE["note"], KIND_CODE["event"], KIND_CODE["task"]])
    for q in queries:
        for k in (1, 5, 50):
            same(m.search(q, MemoryFilter(), None, k), brute(vecs, seqs, q, alive, k))
        same(m.search(q, MemoryFilter(kinds=("note", "event", "task")), None, 20), brute(vecs, seqs, q, keep, 20))


def test_a_first_pass_that_keeps_falling_back_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from jarvis_mcp.adapters import vector_projection

    monkeypatch.setattr(vector_cache, "PROJECT_ROWS", 1_000)
    monkeypatch.setattr(vector_projection, "DIMS", 24)
    rng = np.random.default_rng(17)
    n, dim = 2_000, 96
    vecs = low_rank(rng, n, dim, 16, 0.05)
    seqs = np.arange(1, n + 1, dtype=np.int64)
    m = UserMatrix(version=1, dim=dim)
    m.append(seqs, vecs, np.zeros(n, np.int8), np.zeros(n))
    q = low_rank(rng, 1, dim, 16, 0.05)[0]
    m.search(q, MemoryFilter(), None, 5)
    assert m.projection is not None and m.projection.useful
    m.projection.tries, m.projection.misses = vector_projection.TRIAL, 3  # as after 3 fallbacks in 8 searches
    same(m.search(q, MemoryFilter(), None, 10), brute(vecs, seqs, q, np.ones(n, bool), 10))
    assert m.projection is None  # dropped, and not rebuilt before the matrix doubles
    m.search(q, MemoryFilter(), None, 5)
    assert m.projection is None
