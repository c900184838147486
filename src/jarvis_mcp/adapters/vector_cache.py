"""Per-user vector matrices in memory, rebuilt from a store's durable vectors when the user's index version moves.

A numpy matmul over one user's rows (~5 ms per 100k vectors here) beats sqlite-vec's vec0 scan (~50 ms)
and a round trip per search to a vector database. The durable copy stays in the store (sqlite-vec rows,
Postgres bytea); this cache is derived state that any process can rebuild, checked against
users.index_version on every search so writes by another process are seen. Shared by the SQLite and
Postgres stores.

Every search is exact (the rows, order and scores of scoring every row); a big matrix is scanned across
cores and, when its vectors suit it, through a low-dimension first pass that provably misses nothing
(vector_projection.py). Measured in tools/README.md ("Latency with the 512-dimension default embedder").
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from jarvis_mcp.adapters.vector_projection import Projection
from jarvis_mcp.adapters.versioned_lru import VersionedLru
from jarvis_mcp.memory.models import ALL_KINDS
from jarvis_mcp.memory.ports import MemoryFilter

KIND_CODE = {kind: code for code, kind in enumerate(ALL_KINDS)}


@dataclass
class UserMatrix:
    version: int
    dim: int
    n: int = 0
    seqs: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    vecs: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    kinds: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    ts: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    alive: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    # (version, n, query bytes, scores) of the last scan; see scores().
    _memo: tuple[int, int, bytes, np.ndarray] | None = field(default=None, repr=False, compare=False)
    projection: Projection | None = field(default=None, repr=False, compare=False)
    _projection_tried: int = field(default=0, repr=False, compare=False)

    @property
    def nbytes(self) -> int:
        extra = self.projection.nbytes if self.projection is not None else 0
        return self.vecs.nbytes + self.seqs.nbytes + self.ts.nbytes + self.kinds.nbytes + self.alive.nbytes + extra

    def append(self, seqs: np.ndarray, vecs: np.ndarray, kinds: np.ndarray, ts: np.ndarray) -> None:
        need = self.n + len(seqs)
        if need > len(self.seqs):
            # Amortised growth: appends stay O(1) and searches read [:n] of stable arrays.
            cap = max(need, int(len(self.seqs) * 1.5) + 64)
            self.seqs = _grow(self.seqs, cap)
            self.vecs = _grow(self.vecs if self.vecs.size else np.empty((0, self.dim), np.float32), cap)
            self.kinds = _grow(self.kinds, cap)
            self.ts = _grow(self.ts, cap)
            self.alive = _grow(self.alive, cap)
        if self.projection is not None:  # extended first: a search never sees rows it lacks
            self.projection.extend(np.asarray(vecs, np.float32))
        sl = slice(self.n, need)
        self.seqs[sl], self.vecs[sl], self.kinds[sl], self.ts[sl], self.alive[sl] = seqs, vecs, kinds, ts, True
        self.n = need

    def remove(self, seqs: np.ndarray) -> None:
        # seqs are appended in increasing order (AUTOINCREMENT), so the matrix is sorted by seq.
        rows = np.searchsorted(self.seqs[: self.n], seqs)
        inside = rows < self.n
        rows, seqs = rows[inside], seqs[inside]
        self.alive[rows[self.seqs[rows] == seqs]] = False

    def mask(self, flt: MemoryFilter, tag_seqs: np.ndarray | None, n: int | None = None) -> np.ndarray:
        """Rows [:n] (default: all) that pass `flt`."""
        n = self.n if n is None else n
        keep = self.alive[:n].copy()
        if flt.kinds:
            keep &= np.isin(self.kinds[:n], [KIND_CODE[k] for k in flt.kinds])
        if flt.since is not None:
            keep &= self.ts[:n] >= flt.since
        if flt.until is not None:
            keep &= self.ts[:n] <= flt.until
        if tag_seqs is not None:
            keep &= np.isin(self.seqs[:n], tag_seqs, assume_unique=False)
        return keep

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosines of every row [:n] with `query` (unit vectors). Read-only: kept for the next call.

        A search that names a time scans twice with the same query vector (the whole list, then inside the
        window): the second reuses the first's scores, valid while the matrix has not moved (version, n).
        """
        version, n = self.version, self.n
        key = query.tobytes()
        memo = self._memo
        if memo is not None and memo[0] == version and memo[1] == n and memo[2] == key:
            return memo[3]
        out = np.empty(n, np.float32)
        _matvec(self.vecs[:n], query, out)
        out.flags.writeable = False
        self._memo = (version, n, key, out)  # one assignment: a concurrent reader sees the old or the new
        return out

    def search(self, query: np.ndarray, flt: MemoryFilter, tag_seqs: np.ndarray | None, limit: int) -> list[tuple[int, float]]:
        """The exact top `limit` by cosine among the rows that pass `flt`: the same rows, order and scores as
        scoring every row (tests/test_vector_search.py), however they are found."""
        n = self.n
        if n == 0:
            return []
        query = np.ascontiguousarray(query, np.float32)
        eligible = None
        if not (flt.empty and self.alive[:n].all()):
            eligible = np.flatnonzero(self.alive[:n] if flt.empty else self.mask(flt, tag_seqs, n))
            if eligible.size == 0:
                return []
        k = min(limit, n if eligible is None else eligible.size)
        if eligible is not None and eligible.size < n // 4:
            # A narrow filter: reading its rows alone beats scanning all of them.
            return _best(eligible, self.vecs[eligible] @ query, k, self.seqs)
        projection = self._projection(n)
        if projection is not None:
            rows = projection.candidates(self.vecs[:n], query, eligible, k, _scan)
            if rows is not None:
                return _best(rows, self.vecs[rows] @ query, k, self.seqs)
        scores = self.scores(query)[:n]
        return _best(np.arange(n) if eligible is None else eligible,
                     scores if eligible is None else scores[eligible], k, self.seqs)

    def _projection(self, n: int) -> Projection | None:
        """The low-dimension first pass (vector_projection.py) for a big matrix, built on first use and tried
        again after the matrix doubles if the user's vectors did not suit it."""
        if n < PROJECT_ROWS:
            return None
        current = self.projection
        if current is not None and current.n >= n and current.useful:
            return current
        if current is not None and not current.useful:
            self.projection = current = None  # no use for these vectors; tried again once they double
        if current is None and n < 2 * self._projection_tried:
            return None
        self._projection_tried = n
        self.projection = Projection.build(self.vecs[:n])
        return self.projection if self.projection is not None and self.projection.n >= n else None


def _best(rows: np.ndarray, scores: np.ndarray, k: int, seqs: np.ndarray) -> list[tuple[int, float]]:
    """The k best of `rows` by `scores` (aligned), best first, as (seq, score)."""
    size = scores.size
    k = min(k, size)
    # argpartition on the scores themselves: negating 100k of them first cost a copy per search.
    top = np.argpartition(scores, size - k)[size - k:] if k < size else np.arange(size)
    top = top[np.argsort(-scores[top], kind="stable")]
    return list(zip(seqs[rows[top]].tolist(), scores[top].tolist(), strict=True))


def _scan(vecs: np.ndarray, query: np.ndarray) -> np.ndarray:
    out = np.empty(len(vecs), np.float32)
    _matvec(vecs, query, out)
    return out


# Rows from which a matrix gets the low-dimension first pass (vector_projection.py). Below, a full scan
# takes a few ms and the projection's build (~1 s at 100k, on first search) would not pay.
PROJECT_ROWS = 50_000


# Rows above which a scan is split across threads. numpy releases the GIL inside matmul and the runtime holds
# BLAS at one thread (bootstrap.open_runtime), so each block runs on its own core; 100k x 512 float32 is
# 200 MB, which one core streams in ~15 ms, both in ~half that when the machine is not busy. Below this,
# a block is too short to pay for the hand-off (10k rows scan in ~1 ms).
PARALLEL_ROWS = 32_768
_SCAN_THREADS = max(1, min(4, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _scan_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_SCAN_THREADS - 1, thread_name_prefix="jarvis-scan")
        return _pool


def _matvec(vecs: np.ndarray, query: np.ndarray, out: np.ndarray) -> None:
    """out = vecs @ query, in blocks on several cores for a big matrix. Same products, same floats: each
    row's dot product is computed whole by one thread, so the split never changes a score."""
    n = len(vecs)
    if n < PARALLEL_ROWS or _SCAN_THREADS == 1:
        np.matmul(vecs, query, out=out)
        return
    bounds = np.linspace(0, n, _SCAN_THREADS + 1).astype(int)
    blocks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    futures = [_scan_pool().submit(np.matmul, vecs[lo:hi], query, out=out[lo:hi]) for lo, hi in blocks[1:]]
    lo, hi = blocks[0]
    np.matmul(vecs[lo:hi], query, out=out[lo:hi])  # the calling thread takes the first block
    for f in futures:
        f.result()


def _grow(arr: np.ndarray, cap: int) -> np.ndarray:
    out = np.empty((cap, *arr.shape[1:]), arr.dtype)
    out[: len(arr)] = arr
    return out


class VectorCache(VersionedLru[str, UserMatrix]):
    """Users' matrices under a byte budget."""

    def __init__(self, budget_bytes: int) -> None:
        super().__init__(budget_bytes, size=lambda m: m.nbytes)
