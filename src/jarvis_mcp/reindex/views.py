"""What is embedded for each row, the same as when it was first written: a memory's text (a conversation
turn in its context, memory/context.py); a passage's title, headings and body (documents/ingest's
embedding_texts, its halves averaged), read again from the document's stored bytes; a contact's notes.
Another text would give vectors that search was not tuned on."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from jarvis_mcp.documents.ingest import embedding_texts, extract
from jarvis_mcp.documents.ports import DocumentStore
from jarvis_mcp.documents.service import indexed_chunks
from jarvis_mcp.memory.context import CONTEXTUAL_TURNS, turn_in_context
from jarvis_mcp.memory.ports import NewMemory
from jarvis_mcp.ports import Embedder
from jarvis_mcp.reindex.ports import PendingRow, ReindexStore

log = logging.getLogger(__name__)
_DOCUMENTS_KEPT = 4  # passages come in seq order, so one document's rows are next to each other


class Views:
    def __init__(self, store: ReindexStore, files: DocumentStore | None) -> None:
        self.store = store
        self.files = files
        self._passages: OrderedDict[tuple[str, str], list[list[str]] | None] = OrderedDict()

    def vectors(self, rows: Sequence[PendingRow], embedder: Embedder) -> np.ndarray:
        views = [self._texts(r) for r in rows]
        if not views:
            return np.empty((0, embedder.dim), np.float32)
        flat = embedder.embed([t for vs in views for t in vs])
        out = np.empty((len(views), flat.shape[1]), np.float32)
        at = 0
        for i, vs in enumerate(views):
            mean = flat[at : at + len(vs)].mean(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            at += len(vs)
        return out

    def _texts(self, row: PendingRow) -> list[str]:
        if row.kind == "conversation" and CONTEXTUAL_TURNS:
            previous = NewMemory("conversation", row.previous[1], "", role=row.previous[0]) if row.previous else None
            turn = NewMemory("conversation", row.text, "", occurred_at=row.occurred_at, role=row.role)
            return [turn_in_context(turn, previous, row.timezone)]
        if row.document_id is None or row.position is None:
            return [row.text]
        passages = self._document(row.user_id, row.document_id)
        if passages is not None and row.position < len(passages):
            return passages[row.position]
        # The original is gone (or unreadable): the stored passage, whose first line holds its headings.
        return [row.text]

    def _document(self, user_id: str, document_id: str) -> list[list[str]] | None:
        key = (user_id, document_id)
        if key in self._passages:
            self._passages.move_to_end(key)
            return self._passages[key]
        found = self.store.document_source(user_id, document_id)
        data = self.files.get(user_id, found.sha256) if found and self.files else None
        passages = None
        if found and data is not None:
            try:
                passages = [embedding_texts(found.title, c) for c in indexed_chunks(extract(data, found.mime_type))]
            except Exception as exc:  # noqa: BLE001 - an unreadable original falls back to the stored text
                log.warning("document %s: cannot read the original again (%s); embedding the stored passages",
                            document_id, type(exc).__name__)
        elif found:
            log.warning("document %s: the original is missing; embedding the stored passages", document_id)
        self._passages[key] = passages
        while len(self._passages) > _DOCUMENTS_KEPT:
            self._passages.popitem(last=False)
        return passages
