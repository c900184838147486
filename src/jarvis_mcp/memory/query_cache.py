"""Cached work for one user's searches: query vectors, and whole search results.

A search result is keyed by the user's index_version (bumped by every write to their memories), the
embedding model, the query and every filter; so a write makes the older results unreachable without
any explicit invalidation, in this process and in every other one sharing the cache. Hits and misses
are counted per user for jarvis://me/usage.
"""

from __future__ import annotations

import json

import numpy as np

from jarvis_mcp.memory.models import SearchResult
from jarvis_mcp.memory.ports import MemoryFilter
from jarvis_mcp.ports import Cache, Embedder
from jarvis_mcp.text import content_hash

COUNTERS = ("search_hits", "search_misses", "embedding_hits", "embedding_misses")


class QueryCache:
    def __init__(self, user_id: str, cache: Cache, embedder: Embedder, *, search_ttl: float,
                 embedding_ttl: float) -> None:
        self.user_id = user_id
        self.cache = cache
        self.embedder = embedder
        self.search_ttl = search_ttl
        self.embedding_ttl = embedding_ttl

    def query_vector(self, query: str) -> np.ndarray:
        if self.embedding_ttl <= 0:
            return self.embedder.embed([query])[0]
        key = "emb:" + content_hash(self.embedder.model_id, query)
        raw = self.cache.get(self.user_id, key)
        if raw is not None and len(raw) == 4 * self.embedder.dim:
            self.cache.incr(self.user_id, "embedding_hits")
            return np.frombuffer(raw, np.float32)
        self.cache.incr(self.user_id, "embedding_misses")
        vector = np.ascontiguousarray(self.embedder.embed([query])[0], np.float32)
        self.cache.set(self.user_id, key, vector.tobytes(), self.embedding_ttl)
        return vector

    def search_key(self, index_version: int, query: str, top_k: int, flt: MemoryFilter,
                   window: tuple[float, float] | None = None) -> str | None:
        """`window`: the time the query names ("yesterday"), which moves with the clock."""
        if self.search_ttl <= 0:
            return None
        spec = [index_version, self.embedder.model_id, query, top_k, flt.kinds, flt.tags, flt.since, flt.until, window]
        return "search:" + content_hash(json.dumps(spec))

    def get_search(self, key: str | None) -> SearchResult | None:
        if key is None:
            return None
        raw = self.cache.get(self.user_id, key)
        if raw is not None:
            try:
                result = SearchResult.model_validate_json(raw)
            except ValueError:  # written by another version of the server: recompute
                result = None
            if result is not None:
                self.cache.incr(self.user_id, "search_hits")
                return result
        self.cache.incr(self.user_id, "search_misses")
        return None

    def put_search(self, key: str | None, result: SearchResult) -> None:
        if key is not None:
            self.cache.set(self.user_id, key, result.model_dump_json().encode(), self.search_ttl)


def figures(cache: Cache | None, user_id: str) -> dict[str, int]:
    """The user's counters (zeros without a cache)."""
    if cache is None:
        return dict.fromkeys(COUNTERS, 0)
    return {name: cache.incr(user_id, name, 0) for name in COUNTERS}
