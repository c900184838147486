"""What `jarvis-mcp reindex` needs from a store, and from an external vector index, to move every vector to
another embedding model while servers on the old one keep answering.

The store keeps the new vectors beside the active ones (a shadow: a second sqlite-vec table, a Postgres
side table) until one transaction flips the recorded model and the active vectors. What is in the shadow
is what is done, so a run stopped anywhere resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from jarvis_mcp.memory.ports import IndexEntry

MEMORY = "memory"
CONTACT = "contact"


@dataclass(frozen=True)
class PendingRow:
    """One row without a vector from the new model yet: a memory (passages included) or a contact's notes."""

    source: str  # MEMORY | CONTACT
    user_id: str
    key: int  # the memory's or the contact's seq
    text: str  # memories: the stored text; contacts: the notes
    kind: str = ""
    tags: tuple[str, ...] = ()
    ts: float = 0.0
    document_id: str | None = None
    position: int | None = None
    stamp: float | None = None  # contacts: the updated_at the vector is made for (a later edit re-embeds)
    # Conversation turns are embedded in their context (memory/context.py): who said it, when, the turn before.
    role: str | None = None
    occurred_at: float | None = None
    previous: tuple[str, str] | None = None  # (role, text) of the turn before in the same conversation
    timezone: str | None = None  # the user's, which dates the turn

    def entry(self, vector: np.ndarray) -> IndexEntry:
        return IndexEntry(self.key, vector, self.kind, self.tags, self.ts, self.document_id)


@dataclass(frozen=True)
class DocumentSource:
    """Where a passage's document can be read again, to embed its passages exactly as add_document did."""

    title: str
    sha256: str
    mime_type: str


@dataclass
class SwitchReport:
    caught_up: int = 0  # rows written during the run, embedded inside the switch
    dropped: int = 0  # new vectors of rows deleted during the run, discarded
    orphans: dict[str, list[int]] = field(default_factory=dict)  # user -> memory seqs deleted during the run


# (rows written meanwhile, {user: seqs deleted meanwhile}) -> the new vectors of those rows. Called inside
# the switch's transaction, with writers held off: it embeds, and brings an external index up to date.
Finish = Callable[[list[PendingRow], dict[str, list[int]]], np.ndarray]


class ReindexStore(Protocol):
    def embedding_meta(self) -> dict[str, str]:
        """The recorded model ('embedding_model', 'embedding_dim') and what a switch records with it."""
        ...
    def reindex_start(self, model_id: str, dim: int) -> tuple[int, int]:
        """Make (or keep, when it is for this model) the shadow; (rows already done, rows in all)."""
        ...
    def reindex_pending(self, source: str, after: int, limit: int) -> list[PendingRow]:
        """Rows of `source` with key > after and no current new vector, in key order."""
        ...
    def reindex_save(self, rows: Sequence[PendingRow], vectors: np.ndarray) -> None:
        """Keep these new vectors in the shadow (one transaction: a crash keeps all or none)."""
        ...
    def reindex_switch(self, model_id: str, dim: int, finish: Finish, record: dict[str, str]) -> SwitchReport:
        """With writers held off: embed what is still missing (finish), drop vectors of deleted rows, then
        in the same transaction make the shadow the active vectors and record the model (and `record`)."""
        ...
    def document_source(self, user_id: str, document_id: str) -> DocumentSource | None: ...
    def close(self) -> None: ...


class VectorSink(Protocol):
    """An external index (Pinecone) receiving the new vectors beside the old ones, e.g. in new namespaces."""

    def upsert(self, user_id: str, entries: Sequence[IndexEntry]) -> None: ...
    def delete(self, user_id: str, seqs: Sequence[int]) -> None: ...
