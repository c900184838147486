"""Document metadata, text and passages for PostgresStore (a mixin: it uses the store's db and delete_memories)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jarvis_mcp.adapters.postgres.database import Database, uuids
from jarvis_mcp.documents.ports import DocumentRecord, NewDocument, QuotaExceeded

_COLUMNS = "id::text, title, filename, mime_type, size, sha256, tags, pages, chars, chunks, created_at"
_DELETE_BATCH = 500


def _document(row: Sequence[Any]) -> DocumentRecord:
    did, title, filename, mime_type, size, sha256, tags, pages, chars, chunks, created_at = row
    return DocumentRecord(
        id=str(did), title=str(title), filename=str(filename), mime_type=str(mime_type), size=int(size),
        sha256=str(sha256), tags=tuple(tags), pages=pages, chars=int(chars),
        chunks=chunks, created_at=float(created_at),
    )


class DocumentTables:
    db: Database

    if TYPE_CHECKING:  # provided by PostgresStore
        def delete_memories(self, user_id: str, ids: Sequence[str]) -> list[str]: ...

    def add_document(self, user_id: str, doc: NewDocument, max_user_bytes: int) -> tuple[DocumentRecord, bool]:
        with self.db.session(user_id) as conn:
            # The user's row lock makes the quota check and the insert one step: two uploads racing each
            # other cannot both squeeze under the limit.
            conn.execute("SELECT 1 FROM jarvis.users WHERE id = %s FOR UPDATE", (user_id,))
            row = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.documents WHERE user_id = %s AND sha256 = %s",
                               (user_id, doc.sha256)).fetchone()
            if row:
                return _document(row), False
            used = int(conn.execute("SELECT coalesce(sum(size), 0) FROM jarvis.documents WHERE user_id = %s",
                                    (user_id,)).fetchone()[0])
            if used + doc.size > max_user_bytes:
                raise QuotaExceeded(used, max_user_bytes)
            now = time.time()
            conn.execute(
                "INSERT INTO jarvis.documents (id, user_id, title, filename, mime_type, size, sha256, tags, pages, "
                "chars, chunks, search_key, text, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, "
                "%s, %s, %s)",
                (doc.id, user_id, doc.title, doc.filename, doc.mime_type, doc.size, doc.sha256, list(doc.tags),
                 doc.pages, len(doc.text), doc.search_key,
                 doc.text.replace("\x00", "\ufffd"),  # PostgreSQL text cannot hold NUL; same length
                 now),
            )
        return DocumentRecord(doc.id, doc.title, doc.filename, doc.mime_type, doc.size, doc.sha256, doc.tags,
                              doc.pages, len(doc.text), None, now), True

    def mark_document_indexed(self, user_id: str, document_id: str, chunks: int) -> None:
        with self.db.session(user_id) as conn:
            conn.execute("UPDATE jarvis.documents SET chunks = %s WHERE user_id = %s AND id = %s",
                         (chunks, user_id, document_id))

    def get_document(self, user_id: str, document_id: str) -> DocumentRecord | None:
        if not uuids([document_id]):
            return None
        with self.db.read(user_id) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.documents WHERE user_id = %s AND id = %s",
                               (user_id, document_id)).fetchone()
        return _document(row) if row else None

    def document_by_sha256(self, user_id: str, sha256: str) -> DocumentRecord | None:
        with self.db.read(user_id) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.documents WHERE user_id = %s AND sha256 = %s",
                               (user_id, sha256)).fetchone()
        return _document(row) if row else None

    def document_text(self, user_id: str, document_id: str) -> str | None:
        if not uuids([document_id]):
            return None
        with self.db.read(user_id) as conn:
            row = conn.execute("SELECT text FROM jarvis.documents WHERE user_id = %s AND id = %s",
                               (user_id, document_id)).fetchone()
        return str(row[0]) if row else None

    def list_documents(self, user_id: str, query: str | None, tags: Sequence[str], limit: int) -> list[DocumentRecord]:
        where = ["user_id = %s"]
        params: list[object] = [user_id]
        if query:
            where.append("strpos(search_key, %s) > 0")
            params.append(query)
        if tags:
            where.append("tags && %s::text[]")
            params.append(list(tags))
        params.append(limit)
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jarvis.documents WHERE {' AND '.join(where)} ORDER BY created_at DESC, id LIMIT %s",
                params,
            ).fetchall()
        return [_document(r) for r in rows]

    def document_usage(self, user_id: str) -> tuple[int, int]:
        with self.db.read(user_id) as conn:
            count, used = conn.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM jarvis.documents WHERE user_id = %s", (user_id,)
            ).fetchone()
        return int(count), int(used)

    def delete_document(self, user_id: str, document_id: str) -> DocumentRecord | None:
        found = self.get_document(user_id, document_id)
        if found is None:
            return None
        # Passages first, through delete_memories (so the vector cache follows); the documents row last,
        # so an interrupted delete leaves a document that a retry finishes.
        with self.db.read(user_id) as conn:
            ids = [str(r[0]) for r in conn.execute(
                "SELECT id::text FROM jarvis.memories WHERE user_id = %s AND document_id = %s", (user_id, document_id))]
        for start in range(0, len(ids), _DELETE_BATCH):
            self.delete_memories(user_id, ids[start : start + _DELETE_BATCH])
        with self.db.session(user_id) as conn:
            conn.execute("DELETE FROM jarvis.documents WHERE user_id = %s AND id = %s", (user_id, document_id))
        return found
