"""`jarvis-mcp reindex`: every user's memories, passages and contact notes embedded again with the configured
model, in batches, beside the active vectors; then one switch.

Online: servers on the old model keep searching the old vectors and keep writing (with old vectors) until
the switch. A final pass inside the switch, with writers held off, embeds what they wrote meanwhile and
drops the new vectors of what they deleted, so nothing is lost and nothing comes back. After it, the store
records the new model: a server on the old one refuses to start, and a running one refuses its next
write or uncached search, naming this command.
Resumable: the shadow is the progress. Killed anywhere, the next run embeds only what is not in it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jarvis_mcp.documents.ports import DocumentStore
from jarvis_mcp.ports import Embedder
from jarvis_mcp.reindex.ports import CONTACT, MEMORY, PendingRow, ReindexStore, VectorSink
from jarvis_mcp.reindex.views import Views

log = logging.getLogger(__name__)

BATCH = 64
Progress = Callable[[int, int], None]  # (rows done, rows in all)


@dataclass(frozen=True)
class ReindexReport:
    model_id: str
    dim: int
    previous: str | None  # the model the store held; None for a store that held none yet
    embedded: int  # rows embedded by this run (a resumed run counts only its own)
    resumed: int  # rows an earlier, interrupted run had already done
    caught_up: int  # written by servers during the run, embedded inside the switch
    dropped: int  # deleted by servers during the run: their new vectors discarded
    seconds: float
    switched: bool  # False: the store already used this model, nothing to do


class Reindexer:
    def __init__(self, store: ReindexStore, embedder: Embedder, *, files: DocumentStore | None = None,
                 sink: VectorSink | None = None, record: dict[str, str] | None = None, batch: int = BATCH) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.store = store
        self.embedder = embedder
        self.sink = sink
        self.record = record or {}  # recorded with the model at the switch (e.g. Pinecone's namespaces)
        self.batch = batch
        self.views = Views(store, files)

    def close(self) -> None:
        self.store.close()
        close = getattr(self.sink, "close", None)
        if close:
            close()

    def run(self, progress: Progress | None = None) -> ReindexReport:
        started = time.perf_counter()
        model, dim = self.embedder.model_id, self.embedder.dim
        meta = self.store.embedding_meta()
        previous = meta.get("embedding_model")
        if previous == model and meta.get("embedding_dim") == str(dim):
            return ReindexReport(model, dim, previous, 0, 0, 0, 0, time.perf_counter() - started, switched=False)
        done, total = self.store.reindex_start(model, dim)
        resumed = done
        if progress:
            progress(done, total)
        embedded = 0
        # Two passes: the second picks up what servers wrote during the first, so the switch (which holds
        # writers off while it embeds) has only the last moments' writes left.
        for _ in range(2):
            for source in (MEMORY, CONTACT):
                after = 0
                while rows := self.store.reindex_pending(source, after, self.batch):
                    self._save(rows)
                    after = rows[-1].key
                    embedded += len(rows)
                    done += len(rows)
                    if progress:
                        progress(done, max(total, done))
        report = self.store.reindex_switch(model, dim, self._finish, self.record)
        log.info("reindexed to %s: %d embedded, %d caught up in the switch, %d dropped", model, embedded,
                 report.caught_up, report.dropped)
        return ReindexReport(model, dim, previous, embedded + report.caught_up, resumed, report.caught_up,
                             report.dropped, time.perf_counter() - started, switched=True)

    def _save(self, rows: list[PendingRow]) -> None:
        vectors = self.views.vectors(rows, self.embedder)
        # The external index first: a crash between the two re-sends this batch (idempotent), where the
        # other order would leave the store believing vectors are there that never arrived.
        self._send(rows, vectors)
        self.store.reindex_save(rows, vectors)

    def _send(self, rows: list[PendingRow], vectors: np.ndarray) -> None:
        if self.sink is None:
            return
        by_user: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            if r.source == MEMORY:
                by_user.setdefault(r.user_id, []).append(i)
        for user_id, idx in by_user.items():
            self.sink.upsert(user_id, [rows[i].entry(vectors[i]) for i in idx])

    def _finish(self, rows: list[PendingRow], orphans: dict[str, list[int]]) -> np.ndarray:
        vectors = self.views.vectors(rows, self.embedder)
        self._send(rows, vectors)
        if self.sink is not None:
            for user_id, seqs in orphans.items():
                self.sink.delete(user_id, seqs)
        return vectors
