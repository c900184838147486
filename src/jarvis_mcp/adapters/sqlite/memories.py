"""Memories for SqliteStore: rows, keyword search (FTS5) and the vector index (sqlite-vec rows, searched
through the in-memory VectorCache). A mixin: it uses the store's db, cache, dim and per-version counts."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import apsw
import numpy as np

from jarvis_mcp.adapters.sqlite.reindex import LEGACY_TABLE, vec_table_sql
from jarvis_mcp.adapters.vector_cache import KIND_CODE, UserMatrix, VectorCache
from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.memory import keywords
from jarvis_mcp.memory.ports import MemoryFilter, MemoryRecord, NewMemory

if TYPE_CHECKING:
    from jarvis_mcp.adapters.sqlite.database import Database

log = logging.getLogger(__name__)
_MEMORY_COLUMNS = (
    "seq, id, kind, text, tags, occurred_at, created_at, conversation_id, role, document_id, "
    "(SELECT d.title FROM documents d WHERE d.user_id = memories.user_id AND d.id = memories.document_id)"
)

# Owner-prefixed stems (memory/keywords.py); a new keyword form changes the layout and rebuilds the index.
_FTS_LAYOUT = f"owner-prefixed-stems-{keywords.FORM}"


def _owner_token(user_id: str) -> str:
    # One alphanumeric token per user, so unicode61 keeps it whole.
    return "u" + user_id.replace("-", "")


def _owned_terms(owner: str, text: str) -> str:
    """What memories_fts indexes: each word's stems (memory/keywords.py) glued to its owner's token
    ('u...birthday'). Stems are letters and digits only (unicode61 splits on anything else).

    A term's doclist then holds one user's rows, so a query needs no AND with a per-user token, and
    bm25's document counts (FTS5 scans every phrase's whole doclist for them, on every query) cover that
    user's rows instead of everyone's: at 100k memories among 1.1M, ~8 ms -> ~2 ms per query (see
    tools/bench_memory.py). It also keeps other users' words out of this user's ranking.
    """
    return " ".join(owner + stem for stem in keywords.index_terms(text))


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _memory(row: Sequence[Any]) -> MemoryRecord:
    seq, mid, kind, text, tags, occurred_at, created_at, conversation_id, role, document_id, document_title = row
    return MemoryRecord(
        seq=int(seq), id=str(mid), kind=str(kind), text=str(text), tags=tuple(json.loads(str(tags))),
        occurred_at=occurred_at, created_at=float(created_at),
        conversation_id=conversation_id, role=role,
        document_id=document_id, document_title=document_title,
    )


class MemoryTables:
    db: Database
    cache: VectorCache
    dim: int | None
    _counts: dict[str, tuple[int, int]]  # user -> (index_version, memories): IDF's N, kept per version
    model_id: str | None
    vec_table: str

    if TYPE_CHECKING:  # provided by ReindexTables (sqlite/reindex.py)
        def _check_model(self, conn: apsw.Connection) -> None: ...

    def _reindex_keywords(self) -> None:
        """Once per keyword layout (migration 0011 clears the mark, a new keywords.FORM changes it): rebuild
        memories_fts (contentless) from memories, so rows written before stemming are found by stems too."""
        check = "SELECT 1 FROM meta WHERE key = 'fts_layout' AND value = ?"
        if self.db.conn.execute(check, (_FTS_LAYOUT,)).fetchone():
            return
        with self.db.transaction() as conn:
            if conn.execute(check, (_FTS_LAYOUT,)).fetchone():  # another process got here first
                return
            conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('delete-all')")
            conn.executemany(
                "INSERT INTO memories_fts (rowid, owner, text) VALUES (?, NULL, ?)",
                ((seq, _owned_terms(_owner_token(uid), text))
                 for seq, uid, text in conn.execute("SELECT seq, user_id, text FROM memories")),
            )
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('fts_layout', ?)", (_FTS_LAYOUT,))

    # -- embedding model guard ------------------------------------------------------------------

    def ensure_embedding_model(self, model_id: str, dim: int) -> None:
        with self.db.transaction() as conn:
            meta = dict(conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('embedding_model', 'embedding_dim', 'vector_table')"))
            if not meta:
                conn.execute("INSERT INTO meta VALUES ('embedding_model', ?), ('embedding_dim', ?)", (model_id, str(dim)))
                conn.execute(vec_table_sql(LEGACY_TABLE, dim))
            elif meta.get("embedding_model") != model_id or meta.get("embedding_dim") != str(dim):
                raise StoreMismatch.embedding_model(str(self.db.path), meta, model_id, dim, "a new JARVIS_HOME")
        self.dim = dim
        self.model_id = model_id
        self.vec_table = meta.get("vector_table", LEGACY_TABLE)  # moved by `jarvis-mcp reindex` (sqlite/reindex.py)

    # -- memories -------------------------------------------------------------------------------

    def insert_memories(self, user_id: str, items: Sequence[NewMemory], vectors: np.ndarray) -> list[MemoryRecord]:
        """Insert in one transaction; an item whose hash the user already has returns the stored record."""
        now = time.time()
        out: list[MemoryRecord] = []
        new_seqs: list[int] = []
        new_rows: list[int] = []
        owner = _owner_token(user_id)
        with self.db.transaction() as conn:
            self._check_model(conn)
            old_version = self._version(conn, user_id)
            for i, item in enumerate(items):
                row = conn.execute(
                    "INSERT INTO memories (id, user_id, kind, text, tags, content_hash, occurred_at, created_at, ts, "
                    "conversation_id, role, position, document_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (user_id, content_hash) DO NOTHING RETURNING seq, id",
                    (str(uuid.uuid4()), user_id, item.kind, item.text, json.dumps(list(item.tags)), item.content_hash,
                     item.occurred_at, now, item.occurred_at if item.occurred_at is not None else now,
                     item.conversation_id, item.role, item.position, item.document_id),
                ).fetchone()
                if row is None:
                    existing = conn.execute(
                        f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE user_id = ? AND content_hash = ?",
                        (user_id, item.content_hash),
                    ).fetchone()
                    out.append(_memory(existing))
                    continue
                seq, mid = int(row[0]), str(row[1])
                conn.executemany(
                    "INSERT INTO memory_tags VALUES (?, ?, ?)", [(user_id, tag, seq) for tag in item.tags]
                )
                conn.execute(
                    "INSERT INTO memories_fts (rowid, owner, text) VALUES (?, NULL, ?)",
                    (seq, _owned_terms(owner, item.text)),
                )
                conn.execute(
                    f"INSERT INTO {self.vec_table} (rowid, user_id, embedding) VALUES (?, ?, ?)",
                    (seq, user_id, vectors[i].astype(np.float32).tobytes()),
                )
                out.append(MemoryRecord(seq, mid, item.kind, item.text, item.tags, item.occurred_at, now,
                                        item.conversation_id, item.role, item.document_id))
                new_seqs.append(seq)
                new_rows.append(i)
            if new_seqs:
                self._bump(conn, user_id, old_version)
        if new_seqs:
            matrix = self.cache.advance(user_id, old_version, old_version + 1)
            if matrix is not None:
                with self.cache.lock:
                    fresh = [out_rec for out_rec in out if out_rec.seq in set(new_seqs)]
                    matrix.append(
                        np.array(new_seqs, np.int64),
                        vectors[new_rows].astype(np.float32),
                        np.array([KIND_CODE[r.kind] for r in fresh], np.int8),
                        np.array([r.occurred_at if r.occurred_at is not None else r.created_at for r in fresh]),
                    )
        return out

    def memories_by_hash(self, user_id: str, hashes: Sequence[str]) -> dict[str, MemoryRecord]:
        if not hashes:
            return {}
        rows = self.db.conn.execute(
            f"SELECT content_hash, {_MEMORY_COLUMNS} FROM memories WHERE user_id = ? AND content_hash IN ({_marks(len(hashes))})",
            (user_id, *hashes),
        )
        return {str(r[0]): _memory(r[1:]) for r in rows}

    def memories_by_id(self, user_id: str, ids: Sequence[str]) -> list[MemoryRecord]:
        if not ids:
            return []
        rows = self.db.conn.execute(
            f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE user_id = ? AND id IN ({_marks(len(ids))})", (user_id, *ids)
        )
        return [_memory(r) for r in rows]

    def memories_by_seq(self, user_id: str, seqs: Sequence[int]) -> list[MemoryRecord]:
        if not seqs:
            return []
        rows = self.db.conn.execute(
            f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE user_id = ? AND seq IN ({_marks(len(seqs))})",
            (user_id, *seqs),
        )
        return [_memory(r) for r in rows]

    def recent_memories(self, user_id: str, limit: int) -> list[MemoryRecord]:
        # Document passages are listed with their documents; one PDF would otherwise fill the history.
        rows = self.db.conn.execute(
            f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE user_id = ? AND document_id IS NULL "
            "ORDER BY seq DESC LIMIT ?", (user_id, limit)
        )
        return [_memory(r) for r in rows]

    def conversation_turns(self, user_id: str, conversation_id: str) -> list[MemoryRecord]:
        """A logged conversation's turns in order (the training export reads only these)."""
        rows = self.db.conn.execute(
            f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE user_id = ? AND conversation_id = ? "
            "AND kind = 'conversation' ORDER BY position", (user_id, conversation_id))
        return [_memory(r) for r in rows]

    def count_memories(self, user_id: str) -> int:
        return int(self.db.conn.execute("SELECT count(*) FROM memories WHERE user_id = ?", (user_id,)).fetchone()[0])

    def delete_memories(self, user_id: str, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT seq, id FROM memories WHERE user_id = ? AND id IN ({_marks(len(ids))})", (user_id, *ids)
            ).fetchall()
            if not rows:
                return []
            seqs = [int(r[0]) for r in rows]
            self._check_model(conn)
            old_version = self._version(conn, user_id)
            conn.executemany("DELETE FROM memories_fts WHERE rowid = ?", [(s,) for s in seqs])
            conn.executemany(f"DELETE FROM {self.vec_table} WHERE rowid = ? AND user_id = ?", [(s, user_id) for s in seqs])
            conn.execute(f"DELETE FROM memories WHERE user_id = ? AND seq IN ({_marks(len(seqs))})", (user_id, *seqs))
            # Its links to contacts go with it (timeline): a forgotten memory is nobody's last contact.
            conn.execute(f"DELETE FROM interactions WHERE user_id = ? AND kind = 'memory' AND ref IN ({_marks(len(rows))})",
                         (user_id, *[str(r[1]) for r in rows]))
            self._bump(conn, user_id, old_version)
        matrix = self.cache.advance(user_id, old_version, old_version + 1)
        if matrix is not None:
            with self.cache.lock:
                matrix.remove(np.array(sorted(seqs), np.int64))
        return [str(r[1]) for r in rows]

    def keyword_stats(self, user_id: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        # Terms are indexed glued to their owner's token, so the vocabulary's document counts are this
        # user's own: one lookup per stem, and nobody else's words weigh in. A term with two stems counts
        # as its more frequent one (a lower bound of the memories holding either: close, and one lookup).
        owner = _owner_token(user_id)
        stems = {t: [owner + s for s in keywords.term_stems(t)] for t in terms}
        owned = {o for group in stems.values() for o in group}
        if not owned:
            return 0, {}
        conn = self.db.conn
        version = self._version(conn, user_id) or 0
        cached = self._counts.get(user_id)
        if cached is None or cached[0] != version:
            count = int(conn.execute("SELECT count(*) FROM memories WHERE user_id = ?", (user_id,)).fetchone()[0])
            cached = self._counts[user_id] = (version, count)
        rows = conn.execute(f"SELECT term, doc FROM memories_fts_vocab WHERE term IN ({_marks(len(owned))})", tuple(owned))
        df = {str(t): int(d) for t, d in rows}
        return cached[1], {t: max((df.get(o, 0) for o in group), default=0) for t, group in stems.items() if group}

    def keyword_search(self, user_id: str, terms: Sequence[str], flt: MemoryFilter, limit: int) -> list[int]:
        if not terms:
            return []
        owner = _owner_token(user_id)
        # Stems are letters and digits only, so the quoting cannot be broken.
        owned = dict.fromkeys(owner + s for t in terms for s in keywords.term_stems(t))
        if not owned:
            return []
        match = " OR ".join(f'"{o}"' for o in owned)
        sql = ["SELECT f.rowid FROM memories_fts f"]
        where = ["memories_fts MATCH ?"]
        params: list[object] = [match]
        if flt.kinds or flt.since is not None or flt.until is not None:
            sql.append("JOIN memories m ON m.seq = f.rowid")
            where.append("m.user_id = ?")
            params.append(user_id)
            if flt.kinds:
                where.append(f"m.kind IN ({_marks(len(flt.kinds))})")
                params.extend(flt.kinds)
            if flt.since is not None:
                where.append("m.ts >= ?")
                params.append(flt.since)
            if flt.until is not None:
                where.append("m.ts <= ?")
                params.append(flt.until)
        if flt.tags:
            where.append(f"f.rowid IN (SELECT memory_seq FROM memory_tags WHERE user_id = ? AND tag IN ({_marks(len(flt.tags))}))")
            params.extend([user_id, *flt.tags])
        sql.append("WHERE " + " AND ".join(where))
        sql.append("ORDER BY bm25(memories_fts, 0.0, 1.0) LIMIT ?")
        params.append(limit)
        return [int(r[0]) for r in self.db.conn.execute(" ".join(sql), params)]

    # -- vector index ---------------------------------------------------------------------------

    def search(self, user_id: str, vector: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        conn = self.db.conn
        version = self._version(conn, user_id)
        if version is None:
            return []
        matrix = self.cache.get(user_id, version) or self._load(user_id)
        tag_seqs = None
        if flt.tags:
            tag_seqs = np.fromiter(
                (r[0] for r in conn.execute(
                    f"SELECT memory_seq FROM memory_tags WHERE user_id = ? AND tag IN ({_marks(len(flt.tags))})",
                    (user_id, *flt.tags))),
                np.int64,
            )
        return matrix.search(vector.astype(np.float32, copy=False), flt, tag_seqs, limit)

    def _load(self, user_id: str) -> UserMatrix:
        conn = self.db.conn
        conn.execute("BEGIN")  # one snapshot: version and rows agree
        try:
            self._check_model(conn)
            version = self._version(conn, user_id) or 0
            meta = conn.execute(
                "SELECT seq, kind, ts FROM memories WHERE user_id = ? ORDER BY seq", (user_id,)
            ).fetchall()
            vec_seqs, blob = self._user_vectors(conn, user_id) if meta else (None, None)
        finally:
            conn.execute("COMMIT")
        dim = self.dim or 0
        matrix = UserMatrix(version=version, dim=dim)
        if meta:
            seqs = np.fromiter((r[0] for r in meta), np.int64, len(meta))
            order = np.argsort(vec_seqs)
            vecs = blob[order][np.searchsorted(vec_seqs[order], seqs)]
            matrix.append(
                seqs, vecs, np.array([KIND_CODE[r[1]] for r in meta], np.int8), np.array([r[2] for r in meta], np.float64)
            )
        self.cache.put(user_id, matrix)
        return matrix

    def _user_vectors(self, conn: apsw.Connection, user_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, vectors) of the user's partition of memories_vec.

        Selecting through vec0 returns one row per vector (~5 s for 100k); its chunk tables hold the same
        data 64 vectors to a blob (~0.3 s). sqlite-vec is pinned (0.1.9), and a layout that is not the one
        expected falls back to the slow, public path.
        """
        dim = self.dim or 0
        try:
            chunks = conn.execute(
                f"SELECT c.size, c.validity, c.rowids, v.vectors FROM {self.vec_table}_chunks c "
                f"JOIN {self.vec_table}_vector_chunks00 v ON v.rowid = c.chunk_id WHERE c.partition00 = ?",
                (user_id,),
            ).fetchall()
            ids, vecs = [], []
            for size, validity, rowids, vectors in chunks:
                valid = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[:size].astype(bool)
                ids.append(np.frombuffer(rowids, np.int64, size)[valid])
                vecs.append(np.frombuffer(vectors, np.float32, size * dim).reshape(size, dim)[valid])
            if chunks:
                return np.concatenate(ids), np.concatenate(vecs)
        except (apsw.SQLError, ValueError):
            log.warning("unexpected sqlite-vec layout; reading vectors row by row")
        rows = conn.execute(f"SELECT rowid, embedding FROM {self.vec_table} WHERE user_id = ?", (user_id,)).fetchall()
        ids_slow = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        return ids_slow, np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), dim)

    def index_version(self, user_id: str) -> int:
        return self._version(self.db.conn, user_id) or 0

    @staticmethod
    def _version(conn: apsw.Connection, user_id: str) -> int | None:
        row = conn.execute("SELECT index_version FROM users WHERE id = ?", (user_id,)).fetchone()
        return int(row[0]) if row else None

    @staticmethod
    def _bump(conn: apsw.Connection, user_id: str, old_version: int | None) -> None:
        conn.execute("UPDATE users SET index_version = ? WHERE id = ?", ((old_version or 0) + 1, user_id))
