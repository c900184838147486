"""search_memory's use case: gather candidates from both retrievers, score them (memory/ranking.py), keep
only what passes the relevance floor. A mixin of MemoryService: it uses the service's user, store, index,
embedder, cache, time zone and clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.memory import ranking
from jarvis_mcp.memory.dates import TimeWindow, time_window
from jarvis_mcp.memory.models import ALL_KINDS, Memory, MemoryHit, SearchResult, TimeRange
from jarvis_mcp.memory.ports import MemoryFilter, MemoryRecord, MemoryStore, VectorIndex
from jarvis_mcp.memory.query_cache import QueryCache
from jarvis_mcp.text import clean_tags, clean_text, from_epoch, keyword_terms, to_epoch

if TYPE_CHECKING:
    from jarvis_mcp.ports import Embedder

MAX_TOP_K = 50
WINDOW_POOL = 10  # keyword hits inside a named time whose texts are read for evidence, besides the best 20


def memory_uri(memory_id: str) -> str:
    return f"jarvis://me/memories/{memory_id}"


def to_memory(rec: MemoryRecord) -> Memory:
    return Memory(
        id=rec.id, kind=rec.kind, text=rec.text, tags=list(rec.tags),  # type: ignore[arg-type]
        occurred_at=from_epoch(rec.occurred_at), created_at=from_epoch(rec.created_at),
        conversation_id=rec.conversation_id, role=rec.role, uri=memory_uri(rec.id),
    )


class MemorySearch:
    user_id: str
    store: MemoryStore
    index: VectorIndex
    embedder: Embedder
    cache: QueryCache | None
    timezone: str | None
    clock: Callable[[], datetime]

    @property
    def relevance_floor(self) -> float:
        """The embedder's own floor (a model's cosine scale is its own), else the calibrated default."""
        return float(getattr(self.embedder, "relevance_floor", ranking.DEFAULT_RELEVANCE_FLOOR))

    def search(self, query: str, top_k: int = 5, kinds: list[str] | None = None, tags: list[str] | None = None,
               since: datetime | None = None, until: datetime | None = None) -> SearchResult:
        query = clean_text("query", query, 2_000)
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidInput("top_k", f"must be between 1 and {MAX_TOP_K}")
        if kinds:
            bad = [k for k in kinds if k not in ALL_KINDS]
            if bad:
                raise InvalidInput("kinds", f"unknown kind {bad[0]!r}; use {', '.join(ALL_KINDS)}")
        flt = MemoryFilter(
            kinds=tuple(dict.fromkeys(kinds)) if kinds else None,
            tags=clean_tags("tags", tags) or None,
            since=to_epoch(since, self.timezone),
            until=to_epoch(until, self.timezone),
        )
        if flt.since is not None and flt.until is not None and flt.since > flt.until:
            raise InvalidInput("since", "must not be later than until")
        # A time named in the question boosts; only a range the model passed (since/until) filters.
        window = None if flt.since is not None or flt.until is not None else time_window(query, self.clock(), self.timezone)
        # The version is read before ranking: a write landing meanwhile moves it on, never under a stale result.
        key = None
        if self.cache is not None:
            spec = (window.start, window.end) if window else None
            key = self.cache.search_key(self.store.index_version(self.user_id), query, top_k, flt, spec)
            if (cached := self.cache.get_search(key)) is not None:
                return cached
        parts = ranking.question_parts(query)
        hits = ranking.interleave([self._ranked(q, top_k, flt, window) for q in parts], lambda h: h.id, top_k)
        result = SearchResult(query=query, hits=hits, time_window=_time_range(window),
                              relevance_floor=self.relevance_floor)
        if self.cache is not None:
            self.cache.put_search(key, result)
        return result

    def _ranked(self, query: str, top_k: int, flt: MemoryFilter, window: TimeWindow | None) -> list[MemoryHit]:
        pool = max(50, top_k * 5)
        vector = self._query_vector(query)
        by_vector = self.index.search(self.user_id, vector, flt, pool)
        terms = keyword_terms(query)
        by_keyword = self.store.keyword_search(self.user_id, terms, flt, pool)
        sims = dict(by_vector)
        read = by_keyword[: ranking.EVIDENCE_POOL]
        in_window: set[int] = set()
        if window is not None:
            # The same searches inside the window: every in-window candidate of the searches above is among
            # these (a subset ranks no lower), so membership needs no row reads, and memories of that time
            # too far down the whole list get their chance.
            inside = replace(flt, since=window.start, until=window.end - 1e-3)
            by_vector_w = self.index.search(self.user_id, vector, inside, pool)
            by_keyword_w = self.store.keyword_search(self.user_id, terms, inside, pool)
            sims.update(by_vector_w)
            in_window = {s for s, _ in by_vector_w} | set(by_keyword_w)
            read = list(dict.fromkeys([*read, *by_keyword_w[:WINDOW_POOL]]))
        records = {r.seq: r for r in self.store.memories_by_seq(self.user_id, read)}
        evidence, strong = {}, {}
        if records:
            total, df = self.store.keyword_stats(self.user_id, terms)
            idf = ranking.idf_weights(terms, total, df)
            evidence = ranking.keyword_evidence(idf, records.values())
            strong = ranking.keyword_evidence(ranking.written_only(idf, df), records.values())
        scored = ranking.score(sims, evidence, {*sims, *records}, in_window, floor=self.relevance_floor,
                               strong=strong)
        scored = ranking.carry_to_replies(scored, self._replies(scored[: max(10, 2 * top_k)], records))[:top_k]
        missing = [s.seq for s in scored if s.seq not in records]
        records.update({r.seq: r for r in self.store.memories_by_seq(self.user_id, missing)})
        vrank = {seq: i + 1 for i, (seq, _) in enumerate(by_vector)}
        krank = {seq: i + 1 for i, seq in enumerate(by_keyword)}
        hits = []
        for s in scored:
            rec = records.get(s.seq)
            if rec is None:  # deleted between ranking and fetching
                continue
            m = to_memory(rec)
            hits.append(MemoryHit(
                id=m.id, kind=m.kind, text=m.text, tags=m.tags, occurred_at=m.occurred_at, created_at=m.created_at,
                score=round(s.score, 6), similarity=round(s.similarity, 4) if s.similarity is not None else None,
                vector_rank=vrank.get(s.seq), keyword_rank=krank.get(s.seq), in_time_window=s.in_window or None,
                conversation_id=m.conversation_id, role=m.role, uri=m.uri,
                document_id=rec.document_id, document_title=rec.document_title,
                document_uri=f"jarvis://me/documents/{rec.document_id}" if rec.document_id else None,
            ))
        return hits

    def _replies(self, head: list[ranking.Scored], records: dict[int, MemoryRecord]) -> dict[int, int]:
        """The question turns among the best candidates -> the turn after each (the next seq: a conversation's
        turns are written in order, in one batch; anything else there is not taken). Fills `records`."""
        records.update({r.seq: r for r in self.store.memories_by_seq(self.user_id, [s.seq for s in head
                                                                                     if s.seq not in records])})
        asks = {s.seq: records[s.seq] for s in head
                if s.seq in records and records[s.seq].conversation_id and ranking.asks_only(records[s.seq].text)}
        after = {r.seq: r for r in self.store.memories_by_seq(self.user_id, [q + 1 for q in asks])}
        records.update(after)
        return {q: q + 1 for q, rec in asks.items()
                if q + 1 in after and after[q + 1].conversation_id == rec.conversation_id}

    def _query_vector(self, query: str):  # noqa: ANN202 - numpy row
        return self.cache.query_vector(query) if self.cache is not None else self.embedder.embed([query])[0]

    def search_mode(self, query: str, top_k: int, mode: str) -> list[str]:
        """Ids ranked by one retriever alone; the retrieval-quality benchmark compares the modes."""
        flt = MemoryFilter()
        if mode == "vector":
            seqs = [s for s, _ in self.index.search(self.user_id, self._query_vector(query), flt, top_k)]
        elif mode == "keyword":
            seqs = self.store.keyword_search(self.user_id, keyword_terms(query), flt, top_k)
        else:
            return [h.id for h in self.search(query, top_k).hits]
        recs = {r.seq: r.id for r in self.store.memories_by_seq(self.user_id, seqs)}
        return [recs[s] for s in seqs if s in recs]


def _time_range(window: TimeWindow | None) -> TimeRange | None:
    if window is None:
        return None
    return TimeRange(start=from_epoch(window.start), end=from_epoch(window.end), phrase=window.phrase)
