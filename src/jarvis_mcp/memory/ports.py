"""The memory toolset's ports: what its service needs from the world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from jarvis_mcp.account.ports import ConversationRecord


@dataclass(frozen=True)
class MemoryFilter:
    """Applied before ranking, by every index: a filtered search ranks only the rows that pass."""

    kinds: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None  # any of these tags
    since: float | None = None  # epoch seconds, inclusive, on occurred_at (else created_at)
    until: float | None = None

    @property
    def empty(self) -> bool:
        return not (self.kinds or self.tags or self.since is not None or self.until is not None)



@dataclass(frozen=True)
class NewMemory:
    kind: str
    text: str
    content_hash: str
    tags: tuple[str, ...] = ()
    occurred_at: float | None = None
    conversation_id: str | None = None
    role: str | None = None
    position: int | None = None
    document_id: str | None = None  # a passage of this document (kind 'document')



@dataclass(frozen=True)
class MemoryRecord:
    seq: int
    id: str
    kind: str
    text: str
    tags: tuple[str, ...]
    occurred_at: float | None
    created_at: float
    conversation_id: str | None = None
    role: str | None = None
    document_id: str | None = None
    document_title: str | None = None


class MemoryStore(Protocol):
    """Memories in the relational store: rows, keywords and the version cached searches are keyed on."""

    def ensure_embedding_model(self, model_id: str, dim: int) -> None:
        """Record the model the stored vectors come from; refuse (StoreMismatch) a different one."""
        ...
    def embedding_meta(self) -> dict[str, str]:
        """What is recorded with the model: a reindex may record where an external index keeps its vectors."""
        ...
    def insert_memories(self, user_id: str, items: Sequence[NewMemory], vectors: np.ndarray) -> list[MemoryRecord]: ...
    def memories_by_hash(self, user_id: str, hashes: Sequence[str]) -> dict[str, MemoryRecord]: ...
    def memories_by_id(self, user_id: str, ids: Sequence[str]) -> list[MemoryRecord]: ...
    def memories_by_seq(self, user_id: str, seqs: Sequence[int]) -> list[MemoryRecord]: ...
    def recent_memories(self, user_id: str, limit: int) -> list[MemoryRecord]: ...
    def delete_memories(self, user_id: str, ids: Sequence[str]) -> list[str]: ...
    def keyword_search(self, user_id: str, terms: Sequence[str], flt: MemoryFilter, limit: int) -> list[int]: ...
    def keyword_stats(self, user_id: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """(number of memories, {term: memories containing it}): how rare each query word is."""
        ...
    def count_memories(self, user_id: str) -> int: ...
    def index_version(self, user_id: str) -> int:
        """Bumped by every write to the user's memories (0 for none): what cached searches are keyed on."""
        ...
    # log_conversation is the one writer of a conversation's row; the account's history reads it back.
    def add_conversation(self, user_id: str, conversation: ConversationRecord) -> None: ...
    def conversation_turns(self, user_id: str, conversation_id: str) -> list[MemoryRecord]:
        """A logged conversation's turns in order (read by the training export, export/)."""
        ...


class VectorIndex(Protocol):
    """Nearest neighbours among one user's memories, filters applied before ranking."""

    def search(self, user_id: str, vector: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        """(memory seq, cosine similarity), best first."""
        ...



@dataclass(frozen=True)
class IndexEntry:
    """One memory's vector and the fields filters apply to, as an external index stores it."""

    seq: int
    vector: np.ndarray
    kind: str
    tags: tuple[str, ...]
    ts: float  # occurred_at, else created_at
    document_id: str | None = None


class ExternalVectorIndex(VectorIndex, Protocol):
    """A VectorIndex outside the store (Pinecone). The store is written first and stays the source of
    truth; the same change is then sent here (adapters/mirrored_store.py). Writes are idempotent."""

    def upsert(self, user_id: str, entries: Sequence[IndexEntry]) -> None: ...
    def delete(self, user_id: str, seqs: Sequence[int]) -> None: ...
    def delete_document(self, user_id: str, document_id: str) -> None:
        """Remove every passage of that document."""
        ...
