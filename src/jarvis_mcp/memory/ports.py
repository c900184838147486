"""The memory toolset's ports: what its service needs from the world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


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
