"""A Store whose memory writes are mirrored into an external vector index (Pinecone).

The store is written first and stays the source of truth (it keeps every vector too); the same change
is then sent to the index. A failed index write is never dropped silently: it is logged and kept in the
job queue (jobs/, in the store itself), where any server process's worker retries it until the index
takes it; a process that dies loses none. A retried upsert first re-reads the store, so a memory
forgotten meanwhile is not brought back into the index: that is what makes the order of retries free.
Without a queue (a tool run outside a server) failures wait in memory, in order, as a last resort.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jarvis_mcp.documents.ports import DocumentRecord
from jarvis_mcp.jobs.ports import MIRROR_JOB, JobQueue, NewJob, Progress, RetryLater
from jarvis_mcp.memory.ports import ExternalVectorIndex, IndexEntry, MemoryRecord, NewMemory

log = logging.getLogger(__name__)


@dataclass
class _Op:
    kind: str  # upsert | delete | delete_document
    user_id: str
    payload: Any  # entries | seqs | document id
    failures: int = 0

    def describe(self) -> str:
        if self.kind == "upsert":
            return f"upsert of memories {[e.seq for e in self.payload]} for user {self.user_id}"
        if self.kind == "delete":
            return f"delete of memories {list(self.payload)} for user {self.user_id}"
        return f"delete of document {self.payload} for user {self.user_id}"

    def to_payload(self) -> dict[str, Any]:
        """JSON for the queue: ids, vectors and filter fields, never the memories' text."""
        if self.kind == "upsert":
            return {"op": "upsert", "entries": [
                {"seq": e.seq, "vector": base64.b64encode(np.asarray(e.vector, np.float32).tobytes()).decode(),
                 "kind": e.kind, "tags": list(e.tags), "ts": e.ts, "document_id": e.document_id}
                for e in self.payload]}
        return {"op": self.kind, "target": list(self.payload) if self.kind == "delete" else self.payload}

    @classmethod
    def from_payload(cls, user_id: str, payload: dict[str, Any]) -> _Op:
        if payload["op"] == "upsert":
            return cls("upsert", user_id, [
                IndexEntry(seq=int(e["seq"]), vector=np.frombuffer(base64.b64decode(e["vector"]), np.float32),
                           kind=e["kind"], tags=tuple(e["tags"]), ts=float(e["ts"]), document_id=e["document_id"])
                for e in payload["entries"]])
        return cls(str(payload["op"]), user_id, payload["target"])


def entries_for(records: Sequence[MemoryRecord], vectors: np.ndarray) -> list[IndexEntry]:
    return [
        IndexEntry(seq=r.seq, vector=vectors[i], kind=r.kind, tags=tuple(r.tags),
                   ts=r.occurred_at if r.occurred_at is not None else r.created_at, document_id=r.document_id)
        for i, r in enumerate(records)
    ]


class MirroredStore:
    def __init__(self, store: Any, index: ExternalVectorIndex, *, retry_every: float = 5.0,
                 max_pending: int = 10_000, queue: JobQueue | None = None) -> None:
        self.store = store
        self.index = index
        self.queue = queue
        self.retry_every = retry_every
        self.max_pending = max_pending
        self._pending: deque[_Op] = deque()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._next_retry = 0.0

    def __getattr__(self, name: str) -> Any:
        # Everything but the three memory writes is the store's own.
        return getattr(self.store, name)

    # -- the writes that change vectors -----------------------------------------------------------

    def insert_memories(self, user_id: str, items: Sequence[NewMemory], vectors: np.ndarray) -> list[MemoryRecord]:
        records = self.store.insert_memories(user_id, items, vectors)
        if records:
            # Records the user already had come back too; upserting them again is harmless (same id, vector).
            self._send(_Op("upsert", user_id, entries_for(records, vectors)))
        return records

    def delete_memories(self, user_id: str, ids: Sequence[str]) -> list[str]:
        seq_of = {r.id: r.seq for r in self.store.memories_by_id(user_id, ids)} if ids else {}
        gone = self.store.delete_memories(user_id, ids)
        seqs = [seq_of[i] for i in gone if i in seq_of]
        if seqs:
            self._send(_Op("delete", user_id, seqs))
        return gone

    def delete_document(self, user_id: str, document_id: str) -> DocumentRecord | None:
        found = self.store.delete_document(user_id, document_id)
        if found is not None:
            self._send(_Op("delete_document", user_id, document_id))
        return found

    # -- delivery -------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _send(self, op: _Op) -> None:
        if self.queue is not None:
            try:
                self._apply(op)
            except Exception as exc:  # noqa: BLE001 - any failure of the index is retried, not raised
                job = self.queue.enqueue(op.user_id, NewJob(MIRROR_JOB, op.to_payload(), message="retrying the index"))
                log.error("vector index write failed, queued as job %s for retry: %s: %s", job.id, op.describe(), exc)
            return
        with self._lock:
            queued = any(p.user_id == op.user_id for p in self._pending)
            if queued:  # behind this user's earlier failure: order matters (an upsert then a delete)
                self._enqueue(op)
        if not queued:
            try:
                self._apply(op)
            except Exception as exc:  # noqa: BLE001 - any failure of the index is retried, not raised
                log.error("vector index write failed, will retry: %s: %s", op.describe(), exc)
                with self._lock:
                    self._enqueue(op)
        self.retry()

    def _enqueue(self, op: _Op) -> None:
        self._pending.append(op)
        while len(self._pending) > self.max_pending:
            lost = self._pending.popleft()
            log.error("vector index retry queue full; dropped %s: re-sync the index for this user", lost.describe())

    def _apply(self, op: _Op, *, retry: bool = False) -> None:
        if op.kind == "upsert":
            entries = op.payload
            if retry:
                # Only what the store still holds: a forget that landed meanwhile must win.
                alive = {r.seq for r in self.store.memories_by_seq(op.user_id, [e.seq for e in entries])}
                entries = [e for e in entries if e.seq in alive]
            if entries:
                self.index.upsert(op.user_id, entries)
        elif op.kind == "delete":
            self.index.delete(op.user_id, op.payload)
        else:
            self.index.delete_document(op.user_id, op.payload)

    def mirror_job(self, user_id: str, payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """The queue's mirror_vectors job: the write again, after re-reading the store; RetryLater while
        the index still refuses it (the job waits retry_every seconds and runs again, in any process)."""
        op = _Op.from_payload(user_id, payload)
        try:
            self._apply(op, retry=True)
        except Exception as exc:  # noqa: BLE001
            raise RetryLater(f"the vector index still refuses the write ({type(exc).__name__}); retrying",
                             self.retry_every) from exc
        log.info("vector index write delivered from the queue: %s", op.describe())
        return {"delivered": op.kind}

    def retry(self, *, force: bool = False) -> int:
        """Send pending writes in order, stopping at the first that fails again; returns how many remain."""
        if not self._pending or (not force and time.monotonic() < self._next_retry):
            return len(self._pending)
        if not self._flushing.acquire(blocking=force):
            return len(self._pending)
        try:
            self._next_retry = time.monotonic() + self.retry_every
            while True:
                with self._lock:
                    if not self._pending:
                        break
                    op = self._pending[0]
                try:
                    self._apply(op, retry=True)
                except Exception as exc:  # noqa: BLE001
                    op.failures += 1
                    log.error("vector index write failed again (%d times): %s: %s", op.failures, op.describe(), exc)
                    break
                with self._lock:
                    self._pending.popleft()
                log.info("vector index write delivered after retry: %s", op.describe())
            return len(self._pending)
        finally:
            self._flushing.release()

    def close(self) -> None:
        if self.retry(force=True):
            for op in self._pending:
                log.error("vector index write not delivered at shutdown: %s: re-sync the index", op.describe())
        close = getattr(self.index, "close", None)
        if close:
            close()
        self.store.close()
