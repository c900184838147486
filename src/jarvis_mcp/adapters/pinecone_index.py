"""Pinecone as the VectorIndex (JARVIS_VECTOR_INDEX=pinecone): one index, one namespace per user.

Each user's vectors live in namespace `user_{uuid}`; a vector's id is the memory's seq, its metadata
the fields filters use (kind, tags, ts and, for passages, document_id) and never the text. Filters go
into the query itself, so Pinecone ranks only the vectors that pass them. The index must be a dense
index created with the embedder's dimension and metric `cosine` (checked at start-up).

Writes come from adapters/mirrored_store.py after the store has committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from pinecone import Index, Pinecone

from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.memory.ports import IndexEntry, MemoryFilter

log = logging.getLogger(__name__)

UPSERT_MAX_RECORDS = 1000  # per request, the data plane's cap
UPSERT_MAX_BYTES = 2_000_000  # per request the cap is 2 MB; we stay under it with room for the envelope
DELETE_MAX_IDS = 1000
QUERY_MAX_TOP_K = 10_000


def namespace(user_id: str, suffix: str = "") -> str:
    # Only a UUID can name a namespace: no user id can reach another user's vectors by its spelling.
    return f"user_{uuid.UUID(user_id)}{suffix}"


def model_suffix(model_id: str, dim: int) -> str:
    """The namespaces `jarvis-mcp reindex` writes a model's vectors to, beside the old model's ones until the
    switch records the suffix in the store (meta 'vector_namespace'): `user_{uuid}_m{hash of model}`."""
    return "_m" + hashlib.sha256(f"{model_id}\t{dim}".encode()).hexdigest()[:12]


def metadata_filter(flt: MemoryFilter) -> dict[str, Any] | None:
    conds: list[dict[str, Any]] = []
    if flt.kinds:
        conds.append({"kind": {"$in": list(flt.kinds)}})
    if flt.tags:
        conds.append({"tags": {"$in": list(flt.tags)}})  # a list field matches when any element is in
    if flt.since is not None:
        conds.append({"ts": {"$gte": flt.since}})
    if flt.until is not None:
        conds.append({"ts": {"$lte": flt.until}})
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}


def record(entry: IndexEntry) -> dict[str, Any]:
    meta: dict[str, Any] = {"kind": entry.kind, "ts": float(entry.ts)}
    if entry.tags:
        meta["tags"] = list(entry.tags)
    if entry.document_id:
        meta["document_id"] = entry.document_id
    return {"id": str(entry.seq), "values": np.asarray(entry.vector, np.float32).tolist(), "metadata": meta}


def upsert_batches(records: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Requests under the data plane's caps on records and bytes."""
    batch: list[dict[str, Any]] = []
    size = 0
    for rec in records:
        n = len(json.dumps(rec)) + 2
        if batch and (len(batch) == UPSERT_MAX_RECORDS or size + n > UPSERT_MAX_BYTES - 1024):
            yield batch
            batch, size = [], 0
        batch.append(rec)
        size += n
    if batch:
        yield batch


class PineconeIndex:
    def __init__(self, index: Any, *, suffix: str = "") -> None:
        """`index`: a pinecone.Index (or anything with its upsert/query/delete/describe_index_stats).
        `suffix`: of every namespace, after a reindex (model_suffix)."""
        self.index = index
        self.suffix = suffix

    @classmethod
    def connect(cls, api_key: str, *, host: str | None = None, index_name: str | None = None,
                timeout: float = 10.0, suffix: str = "") -> PineconeIndex:
        if host:
            return cls(Index(host=host, api_key=api_key, timeout=timeout), suffix=suffix)
        if not index_name:
            raise ValueError("a host or an index name is needed")
        return cls(Pinecone(api_key=api_key, timeout=timeout).index(name=index_name), suffix=suffix)

    def check(self, dim: int) -> None:
        """Refuse an index whose vectors could not be this embedder's (StoreMismatch)."""
        stats = self.index.describe_index_stats()
        if stats.dimension is not None and stats.dimension != dim:
            raise StoreMismatch(f"the Pinecone index holds {stats.dimension}-dimensional vectors but the "
                                f"configured embedder makes {dim}; use an index created with dimension {dim}")
        if stats.metric and stats.metric != "cosine":
            raise StoreMismatch(f"the Pinecone index uses metric {stats.metric!r}; create it with 'cosine'")

    def search(self, user_id: str, vector: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        if limit < 1:
            return []
        response = self.index.query(
            top_k=min(limit, QUERY_MAX_TOP_K), vector=np.asarray(vector, np.float32).tolist(),
            namespace=namespace(user_id, self.suffix), filter=metadata_filter(flt),
            include_values=False, include_metadata=False,
        )
        return [(int(m.id), float(m.score)) for m in response.matches]

    def upsert(self, user_id: str, entries: Sequence[IndexEntry]) -> None:
        ns = namespace(user_id, self.suffix)
        for batch in upsert_batches([record(e) for e in entries]):
            self.index.upsert(vectors=batch, namespace=ns)

    def delete(self, user_id: str, seqs: Sequence[int]) -> None:
        ns = namespace(user_id, self.suffix)
        ids = [str(s) for s in seqs]
        for start in range(0, len(ids), DELETE_MAX_IDS):
            self.index.delete(ids=ids[start : start + DELETE_MAX_IDS], namespace=ns)

    def delete_document(self, user_id: str, document_id: str) -> None:
        self.index.delete(filter={"document_id": {"$eq": document_id}}, namespace=namespace(user_id, self.suffix))

    def close(self) -> None:
        close = getattr(self.index, "close", None)
        if close:
            close()
