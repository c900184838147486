"""The ports: what the services need from the world. Adapters implement them; only bootstrap picks one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length float32 vectors. `model_id` and `dim` are recorded by the store."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dim), float32, each row L2-normalised."""
        ...


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


@dataclass(frozen=True)
class UserRecord:
    id: str
    name: str | None
    pronouns: str | None
    timezone: str | None
    locale: str | None
    preferences: dict[str, str]
    created_at: float
    has_voice_key: bool = False


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    title: str | None
    started_at: float
    turns: int


@dataclass(frozen=True)
class ActionRecord:
    tool: str
    status: str
    error: str | None
    created_at: float
    duration_ms: float


class Store(Protocol):
    """Relational data. Every method takes the caller's user id and touches only that user's rows."""

    def ensure_embedding_model(self, model_id: str, dim: int) -> None: ...
    def user_for_identity(self, issuer: str, subject: str, auth_method: str, email: str | None) -> str: ...
    def get_user(self, user_id: str) -> UserRecord | None: ...
    def update_user(self, user_id: str, fields: dict[str, object]) -> UserRecord: ...

    def insert_memories(self, user_id: str, items: Sequence[NewMemory], vectors: np.ndarray) -> list[MemoryRecord]: ...
    def memories_by_hash(self, user_id: str, hashes: Sequence[str]) -> dict[str, MemoryRecord]: ...
    def memories_by_id(self, user_id: str, ids: Sequence[str]) -> list[MemoryRecord]: ...
    def memories_by_seq(self, user_id: str, seqs: Sequence[int]) -> list[MemoryRecord]: ...
    def recent_memories(self, user_id: str, limit: int) -> list[MemoryRecord]: ...
    def delete_memories(self, user_id: str, ids: Sequence[str]) -> list[str]: ...
    def keyword_search(self, user_id: str, terms: Sequence[str], flt: MemoryFilter, limit: int) -> list[int]: ...
    def count_memories(self, user_id: str) -> int: ...

    def add_conversation(self, user_id: str, conversation: ConversationRecord) -> None: ...
    def recent_conversations(self, user_id: str, limit: int) -> list[ConversationRecord]: ...
    def record_action(self, user_id: str, tool: str, arguments: dict[str, object], status: str,
                      error: str | None, duration_ms: float) -> None: ...
    def recent_actions(self, user_id: str, limit: int) -> list[ActionRecord]: ...
    def usage(self, user_id: str, days: int) -> list[tuple[str, str, int, int]]: ...


class VectorIndex(Protocol):
    """Nearest neighbours among one user's memories, filters applied before ranking."""

    def search(self, user_id: str, vector: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        """(memory seq, cosine similarity), best first."""
        ...
