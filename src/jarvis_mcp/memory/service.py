"""Memory: remember, hybrid search, forget, conversation logging — for one user."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from jarvis_mcp.account.ports import ConversationRecord
from jarvis_mcp.actions.service import ActionRequest, ExecutionResult
from jarvis_mcp.errors import InvalidInput, NotFound
from jarvis_mcp.memory.context import CONTEXTUAL_TURNS, turn_in_context
from jarvis_mcp.memory.models import (
    WRITABLE_KINDS,
    ConversationLogged,
    ForgetResult,
    Memory,
    RememberResult,
    SimilarMemory,
)
from jarvis_mcp.memory.ports import MemoryFilter, MemoryStore, NewMemory, VectorIndex
from jarvis_mcp.memory.query_cache import QueryCache
from jarvis_mcp.memory.ranking import KEYWORD_WEIGHT  # noqa: F401 - re-exported: the eval reads it here
from jarvis_mcp.memory.search import MAX_TOP_K, MemorySearch, memory_uri, to_memory  # noqa: F401
from jarvis_mcp.ports import Embedder
from jarvis_mcp.text import clean_tags, clean_text, content_hash, fold, to_epoch

log = logging.getLogger(__name__)

MAX_MEMORY_CHARS = 10_000
MAX_TURNS = 500
#: Cosine similarity from which a new memory is reported as a near-duplicate of a stored one, for an
#: embedder that does not give its own `duplicate_threshold` (all-MiniLM-L6-v2's figure).
NEAR_DUPLICATE = 0.92


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


class MemoryService(MemorySearch):
    def __init__(self, user_id: str, store: MemoryStore, index: VectorIndex, embedder: Embedder,
                 *, timezone: str | None, near_duplicate: float | None = None, cache: QueryCache | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.user_id = user_id
        self.cache = cache
        self.store = store
        self.index = index
        self.embedder = embedder
        self.timezone = timezone
        # A threshold set in the settings wins; else the model's own (cosine scales differ by model, and a
        # multilingual one must see a Spanish paraphrase of an English memory as the same), else MiniLM's.
        self.near_duplicate = near_duplicate if near_duplicate is not None else float(
            getattr(embedder, "duplicate_threshold", NEAR_DUPLICATE))
        # "Yesterday" in a question is read against this clock (the evaluation sets its own).
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- writing --------------------------------------------------------------------------------

    def remember(self, text: str, kind: str = "note", tags: list[str] | None = None,
                 occurred_at: datetime | None = None) -> RememberResult:
        return self.remember_many([MemoryInput(text, kind, tags, occurred_at)], field="")[0]

    def remember_call(self, text: str, tags: list[str], occurred_at: float | None) -> RememberResult:
        """A finished call's summary (kind 'call', written by the calls toolset, never by the model)."""
        text = clean_text("summary", text, MAX_MEMORY_CHARS)
        return self._write([NewMemory(kind="call", text=text, content_hash=content_hash(fold(text)),
                                      tags=clean_tags("tags", tags), occurred_at=occurred_at)])[0]

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

    def _write(self, items: list[NewMemory], embed_as: dict[str, str] | None = None) -> list[RememberResult]:
        """`embed_as`: content hash -> the text to embed instead of the stored one (a turn in its context)."""
        existing = self.store.memories_by_hash(self.user_id, [it.content_hash for it in items])
        fresh = [it for it in items if it.content_hash not in existing]
        # Only new text is embedded: re-importing the same memories costs a hash lookup, not a model run.
        unique = list({it.content_hash: it for it in fresh}.values())
        embed_as = embed_as or {}
        vectors = self.embedder.embed([embed_as.get(it.content_hash, it.text) for it in unique]) if unique else None
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
        embed_as = {it.content_hash: turn_in_context(it, items[i - 1] if i else None, self.timezone)
                    for i, it in enumerate(items)} if CONTEXTUAL_TURNS else None
        results = self._write(items, embed_as)
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
