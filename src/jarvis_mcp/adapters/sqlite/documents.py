"""Document metadata, text and passages for SqliteStore (a mixin: it uses the store's db and delete_memories)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jarvis_mcp.documents.ports import DocumentRecord, NewDocument, QuotaExceeded

if TYPE_CHECKING:
    from jarvis_mcp.adapters.sqlite.database import Database

_COLUMNS = "id, title, filename, mime_type, size, sha256, tags, pages, chars, chunks, created_at"
_DELETE_BATCH = 500


def _document(row: Sequence[Any]) -> DocumentRecord:
    did, title, filename, mime_type, size, sha256, tags, pages, chars, chunks, created_at = row
    return DocumentRecord(
        id=str(did), title=str(title), filename=str(filename), mime_type=str(mime_type), size=int(size),
        sha256=str(sha256), tags=tuple(json.loads(str(tags))), pages=pages, chars=int(chars),
        chunks=chunks, created_at=float(created_at),
    )


class DocumentTables:
    db: Database

    if TYPE_CHECKING:  # provided by SqliteStore
        def delete_memories(self, user_id: str, ids: Sequence[str]) -> list[str]: ...

    def add_document(self, user_id: str, doc: NewDocument, max_user_bytes: int) -> tuple[DocumentRecord, bool]:
        with self.db.transaction() as conn:
            # The quota is checked in the same write transaction as the insert, so two uploads racing
            # each other cannot both squeeze under the limit.
            row = conn.execute(f"SELECT {_COLUMNS} FROM documents WHERE user_id = ? AND sha256 = ?",
                               (user_id, doc.sha256)).fetchone()
            if row:
                return _document(row), False
            used = int(conn.execute("SELECT coalesce(sum(size), 0) FROM documents WHERE user_id = ?",
                                    (user_id,)).fetchone()[0])
            if used + doc.size > max_user_bytes:
                raise QuotaExceeded(used, max_user_bytes)
            now = time.time()
            conn.execute(
                "INSERT INTO documents (id, user_id, title, filename, mime_type, size, sha256, tags, pages, chars, "
                "chunks, search_key, text, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                (doc.id, user_id, doc.title, doc.filename, doc.mime_type, doc.size, doc.sha256,
                 json.dumps(list(doc.tags)), doc.pages, len(doc.text), doc.search_key, doc.text, now),
            )
        return DocumentRecord(doc.id, doc.title, doc.filename, doc.mime_type, doc.size, doc.sha256, doc.tags,
                              doc.pages, len(doc.text), None, now), True

    def mark_document_indexed(self, user_id: str, document_id: str, chunks: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE documents SET chunks = ? WHERE user_id = ? AND id = ?", (chunks, user_id, document_id))

    def get_document(self, user_id: str, document_id: str) -> DocumentRecord | None:
        row = self.db.conn.execute(f"SELECT {_COLUMNS} FROM documents WHERE user_id = ? AND id = ?",
                                   (user_id, document_id)).fetchone()
        return _document(row) if row else None

    def document_by_sha256(self, user_id: str, sha256: str) -> DocumentRecord | None:
        row = self.db.conn.execute(f"SELECT {_COLUMNS} FROM documents WHERE user_id = ? AND sha256 = ?",
                                   (user_id, sha256)).fetchone()
        return _document(row) if row else None

    def document_text(self, user_id: str, document_id: str) -> str | None:
        row = self.db.conn.execute("SELECT text FROM documents WHERE user_id = ? AND id = ?",
                                   (user_id, document_id)).fetchone()
        return str(row[0]) if row else None

    def list_documents(self, user_id: str, query: str | None, tags: Sequence[str], limit: int) -> list[DocumentRecord]:
        where = ["user_id = ?"]
        params: list[object] = [user_id]
        if query:
            where.append("instr(search_key, ?) > 0")
            params.append(query)
        if tags:
            where.append(f"EXISTS (SELECT 1 FROM json_each(documents.tags) WHERE value IN ({','.join('?' * len(tags))}))")
            params.extend(tags)
        params.append(limit)
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM documents WHERE {' AND '.join(where)} ORDER BY created_at DESC, id LIMIT ?", params
        )
        return [_document(r) for r in rows]

    def document_usage(self, user_id: str) -> tuple[int, int]:
        count, used = self.db.conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM documents WHERE user_id = ?", (user_id,)
        ).fetchone()
        return int(count), int(used)

    def delete_document(self, user_id: str, document_id: str) -> DocumentRecord | None:
        found = self.get_document(user_id, document_id)
        if found is None:
            return None
        # Passages first, through delete_memories (keywords, vectors and the cache with them); the
        # documents row last, so an interrupted delete leaves a document that a retry finishes.
        ids = [str(r[0]) for r in self.db.conn.execute(
            "SELECT id FROM memories WHERE user_id = ? AND document_id = ?", (user_id, document_id))]
        for start in range(0, len(ids), _DELETE_BATCH):
            self.delete_memories(user_id, ids[start : start + _DELETE_BATCH])
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM documents WHERE user_id = ? AND id = ?", (user_id, document_id))
        return found
