"""`jarvis-mcp reindex` on PostgreSQL / Supabase: the next model's vectors in jarvis.reindex_memories and
jarvis.reindex_contacts (migration 0012), then one transaction copies them over and records the model.

It connects as the tables' owner (like `migrate`): it reads and writes every user's rows and the global
meta, which the app role, confined by Row Level Security, cannot. ModelGuard is the server side: once the
model moved, a server still on the old one refuses to write or load vectors, naming the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import psycopg
from psycopg import sql

from jarvis_mcp.adapters.postgres.database import describe
from jarvis_mcp.adapters.postgres.migrate import vector_literal
from jarvis_mcp.config import ConfigError, ServiceUnreachable
from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.reindex.ports import CONTACT, MEMORY, DocumentSource, Finish, PendingRow, SwitchReport

if TYPE_CHECKING:
    from jarvis_mcp.adapters.postgres.database import Database

# Writers of memories and contacts wait (servers' searches go on): EXCLUSIVE lets plain SELECTs through
# and holds off SELECT ... FOR UPDATE, so a writer holding its user's row cannot deadlock with the switch.
_HOLD_WRITERS = ("LOCK TABLE jarvis.users, jarvis.memories, jarvis.contacts, jarvis.contact_versions "
                 "IN EXCLUSIVE MODE")


class ModelGuard:
    """Mixed into PostgresStore (app role): the embedding model is recorded by the first server, and checked
    again where vectors are written or loaded, so a server left on the old model after a reindex refuses."""

    db: Database
    dim: int | None
    model_id: str | None = None

    def ensure_embedding_model(self, model_id: str, dim: int) -> None:
        with self.db.anonymous() as conn:
            conn.execute(
                "INSERT INTO jarvis.meta VALUES ('embedding_model', %s), ('embedding_dim', %s) ON CONFLICT DO NOTHING",
                (model_id, str(dim)),
            )
            meta = dict(conn.execute(
                "SELECT key, value FROM jarvis.meta WHERE key IN ('embedding_model', 'embedding_dim')").fetchall())
        if meta.get("embedding_model") != model_id or meta.get("embedding_dim") != str(dim):
            raise StoreMismatch.embedding_model(f"the database {self.db.where}", meta, model_id, dim, "a new database")
        self.dim = dim
        self.model_id = model_id  # checked again where vectors are written or loaded

    def embedding_meta(self) -> dict[str, str]:
        with self.db.anonymous(write=False) as conn:
            return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM jarvis.meta").fetchall()}

    def _check_model(self, conn: psycopg.Connection) -> None:
        if self.model_id is None:
            return
        meta = dict(conn.execute(
            "SELECT key, value FROM jarvis.meta WHERE key IN ('embedding_model', 'embedding_dim')").fetchall())
        if meta.get("embedding_model") != self.model_id:
            raise StoreMismatch.reindexed(f"the database {self.db.where}", meta, self.model_id)


class PostgresReindex:
    def __init__(self, url: str) -> None:
        self.where = describe(url)
        try:
            self.conn = psycopg.connect(url, autocommit=True)  # each `with transaction()` is one transaction
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceUnreachable(f"reindex: cannot connect to {self.where}: {reason}") from None
        row = self.conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'vector'").fetchone()
        has_vec = self.conn.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = 'jarvis.memories'::regclass AND attname = 'embedding_vec' "
            "AND NOT attisdropped").fetchone()
        self.vector_schema: str | None = str(row[0]) if row and has_vec else None
        owner = self.conn.execute("SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
                                  "WHERE c.oid = 'jarvis.memories'::regclass").fetchone()[0]
        if not owner:
            self.conn.close()
            raise ConfigError(f"reindex: {self.where}: connect as the tables' owner (--database-url, as for "
                              "`jarvis-mcp migrate`): the app role cannot read every user's rows, by design")

    def close(self) -> None:
        self.conn.close()

    def embedding_meta(self) -> dict[str, str]:
        with self.conn.transaction():
            return {str(k): str(v) for k, v in self.conn.execute("SELECT key, value FROM jarvis.meta").fetchall()}

    def reindex_start(self, model_id: str, dim: int) -> tuple[int, int]:
        want = f"{model_id}\t{dim}"
        with self.conn.transaction():
            row = self.conn.execute("SELECT value FROM jarvis.meta WHERE key = 'reindex_target'").fetchone()
            if row is None or row[0] != want:  # none yet, or an unfinished run for another model: start over
                self.conn.execute("TRUNCATE jarvis.reindex_memories, jarvis.reindex_contacts")
                self.conn.execute("INSERT INTO jarvis.meta VALUES ('reindex_target', %s) "
                                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (want,))
            if self.vector_schema:
                self.conn.execute(sql.SQL("ALTER TABLE jarvis.reindex_memories ADD COLUMN IF NOT EXISTS "
                                          "embedding_vec {}.vector").format(sql.Identifier(self.vector_schema)))
            done, total = self.conn.execute(
                "SELECT (SELECT count(*) FROM jarvis.reindex_memories) + (SELECT count(*) FROM jarvis.reindex_contacts r "
                "JOIN jarvis.contacts c ON c.seq = r.contact_seq WHERE r.for_updated = c.updated_at), "
                "(SELECT count(*) FROM jarvis.memories) + "
                "(SELECT count(*) FROM jarvis.contacts WHERE notes_vector IS NOT NULL)").fetchone()
        return int(done), int(total)

    def reindex_pending(self, source: str, after: int, limit: int | None) -> list[PendingRow]:
        with self.conn.transaction():
            return self._pending(source, after, limit)

    def _pending(self, source: str, after: int, limit: int | None) -> list[PendingRow]:
        if source == MEMORY:
            rows = self.conn.execute(
                "SELECT m.seq, m.user_id::text, m.text, m.kind, m.tags, m.ts, m.document_id::text, m.position, "
                "m.role, m.occurred_at, p.role, p.text, u.timezone FROM jarvis.memories m "
                "JOIN jarvis.users u ON u.id = m.user_id LEFT JOIN jarvis.memories p ON p.user_id = m.user_id "
                "AND p.conversation_id = m.conversation_id AND p.position = m.position - 1 "
                "WHERE m.seq > %s AND NOT EXISTS (SELECT 1 FROM jarvis.reindex_memories r WHERE r.seq = m.seq) "
                "ORDER BY m.seq LIMIT %s", (after, limit)).fetchall()
            return [PendingRow(MEMORY, uid, int(seq), text, kind, tuple(tags), float(ts), did, pos, role=role,
                               occurred_at=at, previous=(p_role, p_text) if p_text is not None else None, timezone=tz)
                    for seq, uid, text, kind, tags, ts, did, pos, role, at, p_role, p_text, tz in rows]
        rows = self.conn.execute(
            "SELECT c.seq, c.user_id::text, coalesce(c.notes, ''), c.updated_at FROM jarvis.contacts c "
            "LEFT JOIN jarvis.reindex_contacts r ON r.contact_seq = c.seq WHERE c.seq > %s AND c.notes_vector IS NOT NULL "
            "AND (r.contact_seq IS NULL OR r.for_updated <> c.updated_at) ORDER BY c.seq LIMIT %s",
            (after, limit)).fetchall()
        return [PendingRow(CONTACT, uid, int(seq), notes, stamp=float(at)) for seq, uid, notes, at in rows]

    def reindex_save(self, rows: Sequence[PendingRow], vectors: np.ndarray) -> None:
        with self.conn.transaction():
            self._save(rows, vectors)

    def _save(self, rows: Sequence[PendingRow], vectors: np.ndarray) -> None:
        vecs = vectors.astype(np.float32)
        mem = [(r, v) for r, v in zip(rows, vecs, strict=True) if r.source == MEMORY]
        con = [(r, v) for r, v in zip(rows, vecs, strict=True) if r.source == CONTACT]
        with self.conn.cursor() as cur:
            if mem and self.vector_schema:
                cur.executemany(sql.SQL(
                    "INSERT INTO jarvis.reindex_memories (seq, user_id, embedding, embedding_vec) "
                    "VALUES (%s, %s, %s, %s::{}.vector) ON CONFLICT (seq) DO UPDATE SET "
                    "embedding = excluded.embedding, embedding_vec = excluded.embedding_vec"
                ).format(sql.Identifier(self.vector_schema)),
                    [(r.key, r.user_id, v.tobytes(), vector_literal(v)) for r, v in mem])
            elif mem:
                cur.executemany("INSERT INTO jarvis.reindex_memories (seq, user_id, embedding) VALUES (%s, %s, %s) "
                                "ON CONFLICT (seq) DO UPDATE SET embedding = excluded.embedding",
                                [(r.key, r.user_id, v.tobytes()) for r, v in mem])
            if con:
                # A contact deleted meanwhile is skipped (the foreign key would refuse it).
                cur.executemany(
                    "INSERT INTO jarvis.reindex_contacts SELECT %s, %s, %s, %s WHERE EXISTS "
                    "(SELECT 1 FROM jarvis.contacts WHERE seq = %s) ON CONFLICT (contact_seq) DO UPDATE SET "
                    "notes_vector = excluded.notes_vector, for_updated = excluded.for_updated",
                    [(r.key, r.user_id, v.tobytes(), r.stamp, r.key) for r, v in con])

    def reindex_switch(self, model_id: str, dim: int, finish: Finish, record: dict[str, str]) -> SwitchReport:
        with self.conn.transaction():
            self.conn.execute(_HOLD_WRITERS)
            rows = self._pending(MEMORY, 0, None) + self._pending(CONTACT, 0, None)
            orphans: dict[str, list[int]] = {}
            for seq, uid in self.conn.execute(
                "SELECT r.seq, r.user_id::text FROM jarvis.reindex_memories r "
                "WHERE NOT EXISTS (SELECT 1 FROM jarvis.memories m WHERE m.seq = r.seq) ORDER BY r.seq").fetchall():
                orphans.setdefault(uid, []).append(int(seq))
            self._save(rows, finish(rows, orphans))
            set_vec = ", embedding_vec = r.embedding_vec" if self.vector_schema else ""
            self.conn.execute(f"UPDATE jarvis.memories m SET embedding = r.embedding{set_vec} "
                              "FROM jarvis.reindex_memories r WHERE r.seq = m.seq")
            self.conn.execute(
                "UPDATE jarvis.contacts c SET notes_vector = (SELECT r.notes_vector FROM jarvis.reindex_contacts r "
                "WHERE r.contact_seq = c.seq AND r.for_updated = c.updated_at) WHERE c.notes_vector IS NOT NULL")
            self.conn.execute("TRUNCATE jarvis.reindex_memories, jarvis.reindex_contacts")
            self.conn.execute("DELETE FROM jarvis.meta WHERE key = 'reindex_target'")
            with self.conn.cursor() as cur:
                cur.executemany("INSERT INTO jarvis.meta VALUES (%s, %s) "
                                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                [("embedding_model", model_id), ("embedding_dim", str(dim)), *record.items()])
            # Every server's cached matrices and contact indexes are stale now.
            self.conn.execute("UPDATE jarvis.users SET index_version = index_version + 1")
            self.conn.execute("UPDATE jarvis.contact_versions SET version = version + 1")
        return SwitchReport(caught_up=len(rows), dropped=sum(map(len, orphans.values())), orphans=orphans)

    def document_source(self, user_id: str, document_id: str) -> DocumentSource | None:
        with self.conn.transaction():
            row = self.conn.execute("SELECT title, sha256, mime_type FROM jarvis.documents WHERE user_id = %s "
                                    "AND id = %s::uuid", (user_id, document_id)).fetchone()
        return DocumentSource(*row) if row else None
