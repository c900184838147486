"""Memory: remember, hybrid search, forget, conversation logging — for one user."""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from jarvis_mcp.account.ports import ConversationRecord
from jarvis_mcp.actions.service import ActionRequest, ExecutionResult
from jarvis_mcp.errors import InvalidInput, NotFound
from jarvis_mcp.memory.models import (
    ALL_KINDS,
    WRITABLE_KINDS,
    ConversationLogged,
    ForgetResult,
    Memory,
    MemoryHit,
    RememberResult,
    SearchResult,
    SimilarMemory,
)
from jarvis_mcp.memory.ports import MemoryFilter, MemoryRecord, MemoryStore, NewMemory, VectorIndex
from jarvis_mcp.memory.query_cache import QueryCache
from jarvis_mcp.ports import Embedder
from jarvis_mcp.text import (
    clean_tags,
    clean_text,
    content_hash,
    fold,
    from_epoch,
    keyword_terms,
    to_epoch,
)

log = logging.getLogger(__name__)

MAX_MEMORY_CHARS = 10_000
MAX_TOP_K = 50
MAX_TURNS = 500
#: How much keyword evidence adds to cosine similarity. Measured on the labelled set (tools/retrieval_eval.py):
#: every value from 0.1 to 0.5 gave hybrid the best recall@5; plain reciprocal rank fusion did worse than
#: vectors alone, because on paraphrased questions the keyword list is mostly noise yet weighs as much.
KEYWORD_WEIGHT = 0.2
EVIDENCE_POOL = 20
_WORDS = re.compile(r"\w+")


#: Forgetting more memories than this at once is a bulk deletion: it waits for the user's confirmation.
BULK_FORGET = 10


class BulkForget:
    """The executor of a confirmed bulk deletion."""

    def __init__(self, memory: MemoryService) -> None:
        self.memory = memory

    @staticmethod
    def request(memory_ids: Sequence[str]) -> ActionRequest:
        ids = list(dict.fromkeys(memory_ids))
        if len(ids) > 500:
            raise InvalidInput("memory_ids", "at most 500 ids per call")
        return ActionRequest(
            kind="forget_memories", arguments={"memory_ids": ids},
            summary=f"Permanently delete {len(ids)} memories", sensitive=(f"deletes {len(ids)} memories at once",),
        )

    def execute(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        # Ids deleted meanwhile are simply reported as not found: the target is re-checked here.
        done = self.memory.forget(arguments["memory_ids"])
        return ExecutionResult(status="completed", provider="store", result=done.model_dump(mode="json"))


class Turn(BaseModel):
    role: str = Field(description="Who spoke: user, assistant or system.")
    content: str
    at: datetime | None = Field(None, description="When it was said (ISO 8601).")


@dataclass(frozen=True)
class MemoryInput:
    text: str
    kind: str = "note"
    tags: list[str] | None = None
    occurred_at: datetime | None = None


def memory_uri(memory_id: str) -> str:
    return f"jarvis://me/memories/{memory_id}"


def to_memory(rec: MemoryRecord) -> Memory:
    return Memory(
        id=rec.id, kind=rec.kind, text=rec.text, tags=list(rec.tags),  # type: ignore[arg-type]
        occurred_at=from_epoch(rec.occurred_at), created_at=from_epoch(rec.created_at),
        conversation_id=rec.conversation_id, role=rec.role, uri=memory_uri(rec.id),
    )


class MemoryService:
    def __init__(self, user_id: str, store: MemoryStore, index: VectorIndex, embedder: Embedder,
                 *, timezone: str | None, near_duplicate: float, cache: QueryCache | None = None) -> None:
        self.user_id = user_id
        self.cache = cache
        self.store = store
        self.index = index
        self.embedder = embedder
        self.timezone = timezone
        self.near_duplicate = near_duplicate

    # -- writing --------------------------------------------------------------------------------

    def remember(self, text: str, kind: str = "note", tags: list[str] | None = None,
                 occurred_at: datetime | None = None) -> RememberResult:
        return self.remember_many([MemoryInput(text, kind, tags, occurred_at)], field="")[0]

    def remember_many(self, inputs: Sequence[MemoryInput], *, field: str = "items") -> list[RememberResult]:
        """Validate everything first (nothing is written if any item is bad), then one batched write."""
        items: list[NewMemory] = []
        for i, item in enumerate(inputs):
            prefix = f"{field}[{i}]." if field else ""
            if item.kind not in WRITABLE_KINDS:
                raise InvalidInput(f"{prefix}kind", f"must be one of {', '.join(WRITABLE_KINDS)}")
            text = clean_text(f"{prefix}text", item.text, MAX_MEMORY_CHARS)
            items.append(NewMemory(
                kind=item.kind, text=text, content_hash=content_hash(fold(text)),
                tags=clean_tags(f"{prefix}tags", item.tags), occurred_at=to_epoch(item.occurred_at, self.timezone),
            ))
        return self._write(items)

    def _write(self, items: list[NewMemory]) -> list[RememberResult]:
        existing = self.store.memories_by_hash(self.user_id, [it.content_hash for it in items])
        fresh = [it for it in items if it.content_hash not in existing]
        # Only new text is embedded: re-importing the same memories costs a hash lookup, not a model run.
        unique = list({it.content_hash: it for it in fresh}.values())
        vectors = self.embedder.embed([it.text for it in unique]) if unique else None
        similar: dict[str, list[SimilarMemory]] = {}
        if len(unique) == 1 and vectors is not None:
            similar[unique[0].content_hash] = self._near_duplicates(vectors[0])
        stored = {}
        if unique:
            for rec, it in zip(self.store.insert_memories(self.user_id, unique, vectors), unique, strict=True):
                stored[it.content_hash] = rec
        results = []
        created_now: set[str] = set()
        for it in items:
            if it.content_hash in existing:
                rec = existing[it.content_hash]
                results.append(RememberResult(memory=to_memory(rec), created=False, duplicate_of=rec.id))
            else:
                rec = stored[it.content_hash]
                first = it.content_hash not in created_now
                created_now.add(it.content_hash)
                results.append(RememberResult(
                    memory=to_memory(rec), created=first, duplicate_of=None if first else rec.id,
                    similar=similar.get(it.content_hash, []) if first else [],
                ))
        return results

    def _near_duplicates(self, vector) -> list[SimilarMemory]:  # noqa: ANN001 - numpy row
        try:
            found = self.index.search(self.user_id, vector, MemoryFilter(), 3)
        except Exception:  # noqa: BLE001 - an external index being down must not stop a write
            log.warning("near-duplicate check skipped: the vector index failed", exc_info=True)
            return []
        hits = [(seq, sim) for seq, sim in found if sim >= self.near_duplicate]
        if not hits:
            return []
        recs = {r.seq: r for r in self.store.memories_by_seq(self.user_id, [s for s, _ in hits])}
        return [SimilarMemory(id=recs[s].id, text=recs[s].text, similarity=round(sim, 4)) for s, sim in hits if s in recs]

    def log_conversation(self, messages: Sequence[Turn], title: str | None = None) -> ConversationLogged:
        if not messages:
            raise InvalidInput("messages", "must contain at least one turn")
        if len(messages) > MAX_TURNS:
            raise InvalidInput("messages", f"at most {MAX_TURNS} turns per call")
        if title is not None:
            title = clean_text("title", title, 200)
        conversation_id = str(uuid.uuid4())
        items = []
        for i, turn in enumerate(messages):
            role = turn.role.strip().lower()
            if role not in ("user", "assistant", "system"):
                raise InvalidInput(f"messages[{i}].role", "must be user, assistant or system")
            text = clean_text(f"messages[{i}].content", turn.content, MAX_MEMORY_CHARS)
            items.append(NewMemory(
                kind="conversation", text=text, conversation_id=conversation_id, role=role, position=i,
                # Turns are kept per conversation: "thanks!" said in two conversations is two turns.
                content_hash=content_hash(conversation_id, str(i), text),
                occurred_at=to_epoch(turn.at, self.timezone),
            ))
        started = min((it.occurred_at for it in items if it.occurred_at is not None), default=time.time())
        self.store.add_conversation(self.user_id, ConversationRecord(conversation_id, title, started, len(items)))
        results = self._write(items)
        return ConversationLogged(
            conversation_id=conversation_id, turns_stored=len(results), memory_ids=[r.memory.id for r in results]
        )

    def forget(self, memory_ids: Sequence[str]) -> ForgetResult:
        if not memory_ids:
            raise InvalidInput("memory_ids", "must name at least one memory")
        if len(memory_ids) > 500:
            raise InvalidInput("memory_ids", "at most 500 ids per call")
        wanted = list(dict.fromkeys(memory_ids))
        # A passage is part of a document: forgetting one would leave a document that is searchable in
        # places only. Nothing is deleted; the caller is pointed at the whole document instead.
        passage = next((r for r in self.store.memories_by_id(self.user_id, wanted) if r.document_id), None)
        if passage is not None:
            raise InvalidInput("memory_ids", f"{passage.id} is a passage of document {passage.document_id} "
                                             f"({passage.document_title!r}); remove the whole document with delete_document")
        gone = set(self.store.delete_memories(self.user_id, wanted))
        return ForgetResult(forgotten=[m for m in wanted if m in gone], not_found=[m for m in wanted if m not in gone])

    # -- reading --------------------------------------------------------------------------------

    def get(self, memory_id: str) -> Memory:
        found = self.store.memories_by_id(self.user_id, [memory_id])
        if not found:
            raise NotFound("memory", memory_id)
        return to_memory(found[0])

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
        # The version is read before ranking: a write landing meanwhile moves it on, never under a stale result.
        key = None
        if self.cache is not None:
            key = self.cache.search_key(self.store.index_version(self.user_id), query, top_k, flt)
            if (cached := self.cache.get_search(key)) is not None:
                return cached
        pool = max(50, top_k * 5)
        vector = self._query_vector(query)
        by_vector = self.index.search(self.user_id, vector, flt, pool)
        terms = keyword_terms(query)
        by_keyword = self.store.keyword_search(self.user_id, terms, flt, pool)
        sims = dict(by_vector)
        # Keyword evidence for the best keyword hits only: bm25 already puts rare-word matches first, and
        # reading every candidate's text would cost more than the rest of the search.
        records = {r.seq: r for r in self.store.memories_by_seq(self.user_id, by_keyword[:EVIDENCE_POOL])}
        evidence = self._keyword_evidence(terms, records.values()) if records else {}
        scores = {seq: sims.get(seq, 0.0) + KEYWORD_WEIGHT * evidence.get(seq, 0.0) for seq in {*sims, *records}}
        best = sorted(scores, key=scores.__getitem__, reverse=True)[:top_k]
        missing = [seq for seq in best if seq not in records]
        records.update({r.seq: r for r in self.store.memories_by_seq(self.user_id, missing)})
        vrank = {seq: i + 1 for i, (seq, _) in enumerate(by_vector)}
        krank = {seq: i + 1 for i, seq in enumerate(by_keyword)}
        hits = []
        for seq in best:
            rec = records.get(seq)
            if rec is None:  # deleted between ranking and fetching
                continue
            m = to_memory(rec)
            hits.append(MemoryHit(
                id=m.id, kind=m.kind, text=m.text, tags=m.tags, occurred_at=m.occurred_at, created_at=m.created_at,
                score=round(scores[seq], 6), similarity=round(sims[seq], 4) if seq in sims else None,
                vector_rank=vrank.get(seq), keyword_rank=krank.get(seq),
                conversation_id=m.conversation_id, role=m.role, uri=m.uri,
                document_id=rec.document_id, document_title=rec.document_title,
                document_uri=f"jarvis://me/documents/{rec.document_id}" if rec.document_id else None,
            ))
        result = SearchResult(query=query, hits=hits)
        if self.cache is not None:
            self.cache.put_search(key, result)
        return result

    def _keyword_evidence(self, terms: list[str], records: Iterable[MemoryRecord]) -> dict[int, float]:
        """The share of the query's words a memory contains, each word weighted by its rarity (IDF): a
        memory holding the one rare name in the question scores high, one sharing only common words low."""
        total, df = self.store.keyword_stats(self.user_id, terms)
        idf = {t: max(0.0, math.log((total + 1) / (df.get(t, 0) + 0.5))) for t in terms}
        mass = sum(idf.values())
        if mass <= 0:
            return {}
        return {r.seq: sum(idf[t] for t in set(_WORDS.findall(fold(r.text))) & idf.keys()) / mass for r in records}

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
