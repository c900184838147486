"""`jarvis-mcp reindex` on SqliteStore (a mixin): the next model's vectors in a second sqlite-vec table
(memories_vec_N, the next model's dimension) and contact notes in reindex_contacts, until one transaction
makes them the active ones and records the model. meta 'vector_table' names the active table (a store from
before any reindex: memories_vec); meta 'reindex_target' the run in progress ("model<TAB>dim<TAB>table")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import apsw
import numpy as np

from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.reindex.ports import CONTACT, MEMORY, DocumentSource, Finish, PendingRow, SwitchReport

if TYPE_CHECKING:
    from jarvis_mcp.adapters.sqlite.database import Database

LEGACY_TABLE = "memories_vec"


def vec_table_sql(table: str, dim: int) -> str:
    # A small chunk_size: vec0 preallocates a chunk per partition (user), 1024 wastes ~1.5 MB each.
    return (f"CREATE VIRTUAL TABLE {table} USING vec0(user_id text partition key, "
            f"embedding float[{int(dim)}] distance_metric=cosine, chunk_size=64)")


class ReindexTables:
    db: Database
    dim: int | None
    model_id: str | None = None  # the model this process embeds with (set by ensure_embedding_model)
    vec_table: str = LEGACY_TABLE  # the active vector table, as of ensure_embedding_model

    def _check_model(self, conn: apsw.Connection) -> None:
        """Refuse to write or load vectors once a reindex has moved the store to another model: this process's
        vectors would be of the wrong model (and its table gone). One primary-key read."""
        if self.model_id is None:
            return
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('embedding_model', 'embedding_dim')"))
        if meta.get("embedding_model") != self.model_id:
            raise StoreMismatch.reindexed(str(self.db.path), meta, self.model_id)

    def embedding_meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.db.conn.execute("SELECT key, value FROM meta")}

    # -- the run ---------------------------------------------------------------------------------

    def _target(self, conn: apsw.Connection) -> tuple[str, int, str] | None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'reindex_target'").fetchone()
        if row is None:
            return None
        model, dim, table = str(row[0]).split("\t")
        return model, int(dim), table

    def reindex_start(self, model_id: str, dim: int) -> tuple[int, int]:
        with self.db.transaction() as conn:
            target = self._target(conn)
            if target is None or target[:2] != (model_id, dim):
                if target is not None:  # an unfinished run for another model: its vectors are of no use
                    conn.execute(f"DROP TABLE IF EXISTS {target[2]}")
                conn.execute("DELETE FROM reindex_contacts")
                gen = int((conn.execute("SELECT value FROM meta WHERE key = 'vector_generation'").fetchone()
                           or ("0",))[0]) + 1
                table = f"memories_vec_{gen}"
                conn.execute(f"DROP TABLE IF EXISTS {table}")
                conn.execute(vec_table_sql(table, dim))
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('vector_generation', ?), ('reindex_target', ?)",
                             (str(gen), f"{model_id}\t{dim}\t{table}"))
                target = (model_id, dim, table)
            table = target[2]
            done = int(conn.execute(f"SELECT count(*) FROM {table}_rowids").fetchone()[0]) + int(conn.execute(
                "SELECT count(*) FROM reindex_contacts r JOIN contacts c ON c.seq = r.contact_seq "
                "WHERE r.for_updated = c.updated_at").fetchone()[0])
            total = int(conn.execute("SELECT count(*) FROM memories").fetchone()[0]) + int(conn.execute(
                "SELECT count(*) FROM contacts WHERE notes_vector IS NOT NULL").fetchone()[0])
        return done, total

    def _table(self, conn: apsw.Connection) -> str:
        target = self._target(conn)
        if target is None:
            raise RuntimeError("no reindex in progress: reindex_start first")
        return target[2]

    def reindex_pending(self, source: str, after: int, limit: int | None) -> list[PendingRow]:
        return self._pending(self.db.conn, source, after, limit)

    def _pending(self, conn: apsw.Connection, source: str, after: int, limit: int | None) -> list[PendingRow]:
        if source == MEMORY:
            rows = conn.execute(
                "SELECT m.seq, m.user_id, m.text, m.kind, m.tags, m.ts, m.document_id, m.position, m.role, "
                "m.occurred_at, p.role, p.text, u.timezone FROM memories m JOIN users u ON u.id = m.user_id "
                "LEFT JOIN memories p ON p.conversation_id = m.conversation_id AND p.position = m.position - 1 "
                f"WHERE m.seq > ? AND NOT EXISTS (SELECT 1 FROM {self._table(conn)}_rowids r WHERE r.rowid = m.seq) "
                "ORDER BY m.seq LIMIT ?", (after, -1 if limit is None else limit)).fetchall()
            return [PendingRow(MEMORY, str(uid), int(seq), str(text), str(kind), tuple(json.loads(str(tags))),
                               float(ts), did, pos, role=role, occurred_at=at,
                               previous=(str(p_role), str(p_text)) if p_text is not None else None, timezone=tz)
                    for seq, uid, text, kind, tags, ts, did, pos, role, at, p_role, p_text, tz in rows]
        rows = conn.execute(
            "SELECT c.seq, c.user_id, coalesce(c.notes, ''), c.updated_at FROM contacts c "
            "LEFT JOIN reindex_contacts r ON r.contact_seq = c.seq "
            "WHERE c.seq > ? AND c.notes_vector IS NOT NULL AND (r.contact_seq IS NULL OR r.for_updated != c.updated_at) "
            "ORDER BY c.seq LIMIT ?", (after, -1 if limit is None else limit)).fetchall()
        return [PendingRow(CONTACT, str(uid), int(seq), str(notes), stamp=float(at)) for seq, uid, notes, at in rows]

    def reindex_save(self, rows: Sequence[PendingRow], vectors: np.ndarray) -> None:
        with self.db.transaction() as conn:
            self._save(conn, self._table(conn), rows, vectors)

    @staticmethod
    def _save(conn: apsw.Connection, table: str, rows: Sequence[PendingRow], vectors: np.ndarray) -> None:
        for row, vec in zip(rows, vectors.astype(np.float32), strict=True):
            blob = vec.tobytes()
            if row.source == MEMORY:
                # A memory deleted meanwhile gets a vector anyway; the switch drops it (seqs are never reused).
                conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (row.key,))
                conn.execute(f"INSERT INTO {table} (rowid, user_id, embedding) VALUES (?, ?, ?)",
                             (row.key, row.user_id, blob))
            else:
                conn.execute("INSERT OR REPLACE INTO reindex_contacts SELECT ?, ?, ?, ? "
                             "WHERE EXISTS (SELECT 1 FROM contacts WHERE seq = ?)",
                             (row.key, row.user_id, blob, row.stamp, row.key))

    # -- the switch ------------------------------------------------------------------------------

    def reindex_switch(self, model_id: str, dim: int, finish: Finish, record: dict[str, str]) -> SwitchReport:
        # BEGIN IMMEDIATE: servers' writes wait (busy_timeout) while the last rows are embedded.
        with self.db.transaction() as conn:
            table = self._table(conn)
            rows = self._pending(conn, MEMORY, 0, None) + self._pending(conn, CONTACT, 0, None)
            orphans: dict[str, list[int]] = {}
            gone = conn.execute(f"SELECT r.rowid FROM {table}_rowids r "
                                "WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE m.seq = r.rowid)").fetchall()
            for (seq,) in gone:
                uid = conn.execute(f"SELECT user_id FROM {table} WHERE rowid = ?", (seq,)).fetchone()[0]
                orphans.setdefault(str(uid), []).append(int(seq))
            vectors = finish(rows, orphans)
            self._save(conn, table, rows, vectors)
            for seqs in orphans.values():
                conn.executemany(f"DELETE FROM {table} WHERE rowid = ?", [(s,) for s in seqs])
            conn.execute("UPDATE contacts SET notes_vector = (SELECT r.notes_vector FROM reindex_contacts r "
                         "WHERE r.contact_seq = contacts.seq AND r.for_updated = contacts.updated_at) "
                         "WHERE notes_vector IS NOT NULL")
            conn.execute("DELETE FROM reindex_contacts")
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            if "embedding_model" in meta:
                conn.execute(f"DROP TABLE IF EXISTS {meta.get('vector_table', LEGACY_TABLE)}")
            conn.execute("DELETE FROM meta WHERE key = 'reindex_target'")
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [
                ("embedding_model", model_id), ("embedding_dim", str(dim)), ("vector_table", table),
                *record.items()])
            # Every cached matrix and contact index is now stale: the version moves for everyone.
            conn.execute("UPDATE users SET index_version = index_version + 1")
            conn.execute("UPDATE contact_versions SET version = version + 1")
        return SwitchReport(caught_up=len(rows), dropped=sum(map(len, orphans.values())), orphans=orphans)

    def document_source(self, user_id: str, document_id: str) -> DocumentSource | None:
        row = self.db.conn.execute("SELECT title, sha256, mime_type FROM documents WHERE user_id = ? AND id = ?",
                                   (user_id, document_id)).fetchone()
        return DocumentSource(str(row[0]), str(row[1]), str(row[2])) if row else None
