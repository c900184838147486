"""PostgresStore: the Store port (and the numpy VectorIndex) over PostgreSQL / Supabase.

Every statement filters on user_id and runs in a transaction carrying that user's claims, so Row Level
Security would hide other users' rows even from a statement that forgot its filter.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from jarvis_mcp.account.ports import ActionRecord, ConversationRecord, UserRecord
from jarvis_mcp.adapters.postgres.auth import AuthTables
from jarvis_mcp.adapters.postgres.calendar import CalendarTables
from jarvis_mcp.adapters.postgres.calls import CallTables
from jarvis_mcp.adapters.postgres.contacts import ContactTables
from jarvis_mcp.adapters.postgres.database import Database, retry_reads, uuids
from jarvis_mcp.adapters.postgres.documents import DocumentTables
from jarvis_mcp.adapters.postgres.interactions import InteractionTables
from jarvis_mcp.adapters.postgres.limits import LimitTables
from jarvis_mcp.adapters.postgres.migrate import vector_literal
from jarvis_mcp.adapters.postgres.outbox import OutboxTables
from jarvis_mcp.adapters.postgres.reindex import ModelGuard
from jarvis_mcp.adapters.vector_cache import KIND_CODE, UserMatrix, VectorCache
from jarvis_mcp.memory import keywords
from jarvis_mcp.memory.ports import MemoryFilter, MemoryRecord, NewMemory

MEMORY_COLUMNS = (
    "m.seq, m.id::text, m.kind, m.text, m.tags, m.occurred_at, m.created_at, m.conversation_id::text, m.role, "
    "m.document_id::text, d.title"
)
MEMORY_FROM = "jarvis.memories m LEFT JOIN jarvis.documents d ON d.user_id = m.user_id AND d.id = m.document_id"
_USER_COLUMNS = "id::text, name, pronouns, timezone, locale, preferences, created_at, voice_key_hash"
_PROFILE_FIELDS = {"name", "pronouns", "timezone", "locale", "preferences"}


def memory(row: Sequence[Any]) -> MemoryRecord:
    seq, mid, kind, text, tags, occurred_at, created_at, conversation_id, role, document_id, title = row
    return MemoryRecord(
        seq=int(seq), id=str(mid), kind=str(kind), text=str(text), tags=tuple(tags),
        occurred_at=occurred_at, created_at=float(created_at),
        conversation_id=conversation_id, role=role, document_id=document_id, document_title=title,
    )


def _user(row: Sequence[Any]) -> UserRecord:
    uid, name, pronouns, tz, locale, prefs, created_at, voice_key_hash = row
    return UserRecord(
        id=str(uid), name=name, pronouns=pronouns, timezone=tz, locale=locale,
        preferences=dict(prefs or {}), created_at=float(created_at),
        has_voice_key=voice_key_hash is not None,
    )


def filter_sql(flt: MemoryFilter, alias: str = "m") -> tuple[str, list[object]]:
    """The filter as SQL conditions on the memories row: applied in WHERE, before any ranking."""
    where: list[str] = []
    params: list[object] = []
    if flt.kinds:
        where.append(f"{alias}.kind = ANY(%s)")
        params.append(list(flt.kinds))
    if flt.tags:
        where.append(f"{alias}.tags && %s::text[]")
        params.append(list(flt.tags))
    if flt.since is not None:
        where.append(f"{alias}.ts >= %s")
        params.append(flt.since)
    if flt.until is not None:
        where.append(f"{alias}.ts <= %s")
        params.append(flt.until)
    return "".join(" AND " + w for w in where), params


def keyword_text(text: str) -> str:
    """What the tsv column indexes ('simple' config): the text's stems (memory/keywords.py), as on SQLite."""
    return " ".join(keywords.index_terms(text))


def _stem_groups(terms: Sequence[str]) -> dict[str, tuple[str, ...]]:
    groups = {t: keywords.term_stems(t) for t in dict.fromkeys(terms)}
    return {t: g for t, g in groups.items() if g}


def _any_stem(group: Sequence[str]) -> str:
    """A tsquery matching any of a term's stems (one parameter each)."""
    return "(" + " || ".join("plainto_tsquery('simple', %s)" for _ in group) + ")"


@retry_reads
class PostgresStore(DocumentTables, ContactTables, LimitTables, OutboxTables, CalendarTables, CallTables, ModelGuard,
                    AuthTables, InteractionTables):
    def __init__(self, db: Database, *, vector_cache_bytes: int = 2 << 30, vector_schema: str | None = None) -> None:
        self.db = db
        self.cache = VectorCache(vector_cache_bytes)
        self.dim: int | None = None
        # Where pgvector is installed (and the column exists) every write fills embedding_vec too, so the
        # pgvector index can be switched on at any time without a backfill.
        self.vector_schema = vector_schema

    def close(self) -> None:
        self.db.close()

    # -- users and identities -------------------------------------------------------------------

    def user_for_identity(self, issuer: str, subject: str, auth_method: str, email: str | None) -> str:
        # Before anyone is known no claims can be set: a SECURITY DEFINER function does the whole step
        # and hands back one user id (resources/migrations/postgres/0001_init.sql).
        with self.db.anonymous() as conn:
            row = conn.execute("SELECT jarvis.resolve_identity(%s, %s, %s, %s)::text",
                               (issuer, subject, auth_method, email)).fetchone()
        return str(row[0])

    def get_user(self, user_id: str) -> UserRecord | None:
        with self.db.read(user_id) as conn:
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM jarvis.users WHERE id = %s", (user_id,)).fetchone()
        return _user(row) if row else None

    def update_user(self, user_id: str, fields: dict[str, object]) -> UserRecord:
        unknown = set(fields) - _PROFILE_FIELDS
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        values = {k: Jsonb(v) if k == "preferences" else v for k, v in fields.items()}
        with self.db.session(user_id) as conn:
            if values:
                assignments = ", ".join(f"{k} = %s" for k in values)
                conn.execute(f"UPDATE jarvis.users SET {assignments}, updated_at = %s WHERE id = %s",
                             (*values.values(), time.time(), user_id))
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM jarvis.users WHERE id = %s", (user_id,)).fetchone()
        return _user(row)

    # -- memories -------------------------------------------------------------------------------

    def insert_memories(self, user_id: str, items: Sequence[NewMemory], vectors: np.ndarray) -> list[MemoryRecord]:
        """Insert in one transaction; an item whose hash the user already has returns the stored record."""
        now = time.time()
        columns = ("id, user_id, kind, text, tags, content_hash, occurred_at, created_at, ts, conversation_id, role, "
                   "position, document_id, tsv, keyword_form, embedding")
        values = "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, to_tsvector('simple', %s), %s, %s"
        if self.vector_schema:
            columns += ", embedding_vec"
            values += f', %s::"{self.vector_schema}".vector'
        insert = (f"INSERT INTO jarvis.memories ({columns}) VALUES ({values}) "
                  "ON CONFLICT (user_id, content_hash) DO NOTHING RETURNING seq, id::text")
        params = []
        for i, item in enumerate(items):
            vec = vectors[i].astype(np.float32)
            row: tuple[object, ...] = (
                str(uuid.uuid4()), user_id, item.kind, item.text, list(item.tags), item.content_hash, item.occurred_at,
                now, item.occurred_at if item.occurred_at is not None else now, item.conversation_id, item.role,
                item.position, item.document_id, keyword_text(item.text), keywords.FORM, vec.tobytes(),
            )
            params.append((*row, vector_literal(vec)) if self.vector_schema else row)
        out: list[MemoryRecord | None] = []
        with self.db.session(user_id) as conn:
            # The user's row lock orders this user's writers: seqs reach each user in increasing order
            # (the vector cache relies on it) and index_version moves by exactly one per write.
            old_version = self._lock_user(conn, user_id)
            self._check_model(conn)
            with conn.cursor() as cur:
                cur.executemany(insert, params, returning=True)
                for item in items:
                    got = cur.fetchone()
                    out.append(None if got is None else MemoryRecord(
                        int(got[0]), str(got[1]), item.kind, item.text, item.tags, item.occurred_at, now,
                        item.conversation_id, item.role, item.document_id))
                    cur.nextset()
            missing = [it.content_hash for it, rec in zip(items, out, strict=True) if rec is None]
            existing = self._by_hash(conn, user_id, missing) if missing else {}
            new_rows = [i for i, rec in enumerate(out) if rec is not None]
            if new_rows:
                conn.execute("UPDATE jarvis.users SET index_version = %s WHERE id = %s", (old_version + 1, user_id))
        records = [rec if rec is not None else existing[it.content_hash] for it, rec in zip(items, out, strict=True)]
        if new_rows:
            self._cache_append(user_id, old_version, [records[i] for i in new_rows], vectors[new_rows])
        return records

    def _cache_append(self, user_id: str, old_version: int, fresh: list[MemoryRecord], vectors: np.ndarray) -> None:
        matrix = self.cache.advance(user_id, old_version, old_version + 1)
        if matrix is None:
            return
        with self.cache.lock:
            matrix.append(
                np.array([r.seq for r in fresh], np.int64), vectors.astype(np.float32),
                np.array([KIND_CODE[r.kind] for r in fresh], np.int8),
                np.array([r.occurred_at if r.occurred_at is not None else r.created_at for r in fresh]),
            )

    @staticmethod
    def _lock_user(conn: psycopg.Connection, user_id: str) -> int:
        row = conn.execute("SELECT index_version FROM jarvis.users WHERE id = %s FOR UPDATE", (user_id,)).fetchone()
        if row is None:
            raise ValueError("no such user")
        return int(row[0])

    @staticmethod
    def _by_hash(conn: psycopg.Connection, user_id: str, hashes: Sequence[str]) -> dict[str, MemoryRecord]:
        rows = conn.execute(
            f"SELECT m.content_hash, {MEMORY_COLUMNS} FROM {MEMORY_FROM} WHERE m.user_id = %s AND m.content_hash = ANY(%s)",
            (user_id, list(hashes)),
        ).fetchall()
        return {str(r[0]): memory(r[1:]) for r in rows}

    def memories_by_hash(self, user_id: str, hashes: Sequence[str]) -> dict[str, MemoryRecord]:
        if not hashes:
            return {}
        with self.db.read(user_id) as conn:
            return self._by_hash(conn, user_id, hashes)

    def memories_by_id(self, user_id: str, ids: Sequence[str]) -> list[MemoryRecord]:
        wanted = uuids(ids)
        if not wanted:
            return []
        with self.db.read(user_id) as conn:
            rows = conn.execute(f"SELECT {MEMORY_COLUMNS} FROM {MEMORY_FROM} WHERE m.user_id = %s AND m.id = ANY(%s::uuid[])",
                                (user_id, wanted)).fetchall()
        return [memory(r) for r in rows]

    def memories_by_seq(self, user_id: str, seqs: Sequence[int]) -> list[MemoryRecord]:
        if not seqs:
            return []
        with self.db.read(user_id) as conn:
            rows = conn.execute(f"SELECT {MEMORY_COLUMNS} FROM {MEMORY_FROM} WHERE m.user_id = %s AND m.seq = ANY(%s)",
                                (user_id, [int(s) for s in seqs])).fetchall()
        return [memory(r) for r in rows]

    def conversation_turns(self, user_id: str, conversation_id: str) -> list[MemoryRecord]:
        with self.db.read(user_id) as conn:
            rows = conn.execute(f"SELECT {MEMORY_COLUMNS} FROM {MEMORY_FROM} WHERE m.user_id = %s AND "
                                "m.conversation_id = %s::uuid AND m.kind = 'conversation' ORDER BY m.position",
                                (user_id, conversation_id)).fetchall()
        return [memory(r) for r in rows]

    def recent_memories(self, user_id: str, limit: int) -> list[MemoryRecord]:
        # Document passages are listed with their documents; one PDF would otherwise fill the history.
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                f"SELECT {MEMORY_COLUMNS} FROM {MEMORY_FROM} WHERE m.user_id = %s AND m.document_id IS NULL "
                "ORDER BY m.seq DESC LIMIT %s",
                (user_id, limit),
            ).fetchall()
        return [memory(r) for r in rows]

    def index_version(self, user_id: str) -> int:
        with self.db.read(user_id) as conn:
            row = conn.execute("SELECT index_version FROM jarvis.users WHERE id = %s", (user_id,)).fetchone()
        return int(row[0]) if row else 0

    def count_memories(self, user_id: str) -> int:
        with self.db.read(user_id) as conn:
            return int(conn.execute("SELECT count(*) FROM jarvis.memories WHERE user_id = %s", (user_id,)).fetchone()[0])

    def delete_memories(self, user_id: str, ids: Sequence[str]) -> list[str]:
        wanted = uuids(ids)
        if not wanted:
            return []
        with self.db.session(user_id) as conn:
            old_version = self._lock_user(conn, user_id)
            self._check_model(conn)
            rows = conn.execute(
                "DELETE FROM jarvis.memories WHERE user_id = %s AND id = ANY(%s::uuid[]) RETURNING seq, id::text",
                (user_id, wanted),
            ).fetchall()
            if not rows:
                return []
            conn.execute("UPDATE jarvis.users SET index_version = %s WHERE id = %s", (old_version + 1, user_id))
            conn.execute("DELETE FROM jarvis.interactions WHERE user_id = %s AND kind = 'memory' AND ref = ANY(%s)",
                         (user_id, [str(r[1]) for r in rows]))  # a forgotten memory is nobody's last contact
        matrix = self.cache.advance(user_id, old_version, old_version + 1)
        if matrix is not None:
            with self.cache.lock:
                matrix.remove(np.array(sorted(int(r[0]) for r in rows), np.int64))
        return [str(r[1]) for r in rows]

    def keyword_stats(self, user_id: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        # Per-user document frequencies; one scalar subquery per term so each can use the GIN index.
        groups = _stem_groups(terms)
        if not groups:
            return 0, {}
        counts = ", ".join(f"(SELECT count(*) FROM jarvis.memories WHERE user_id = %s AND tsv @@ {_any_stem(g)})"
                           for g in groups.values())
        params: list[object] = [user_id]
        for group in groups.values():
            params += [user_id, *group]
        with self.db.read(user_id) as conn:
            row = conn.execute(
                f"SELECT (SELECT count(*) FROM jarvis.memories WHERE user_id = %s), {counts}", params
            ).fetchone()
        return int(row[0]), {t: int(c) for t, c in zip(groups, row[1:], strict=True)}

    def keyword_search(self, user_id: str, terms: Sequence[str], flt: MemoryFilter, limit: int) -> list[int]:
        groups = _stem_groups(terms)
        if not groups:
            return []
        names = [f"q{i}" for i in range(len(groups))]
        queries = ", ".join(f"{_any_stem(g)} AS {n}" for g, n in zip(groups.values(), names, strict=True))
        any_term = " || ".join(f"t.{n}" for n in names)
        # No IDF in Postgres ranking: rank first by how many distinct terms a row has, so "café josé"
        # prefers the row with both over one repeating "café", then by cover density.
        coverage = " + ".join(f"(m.tsv @@ t.{n})::int" for n in names)
        where, params = filter_sql(flt)
        stems = [s for g in groups.values() for s in g]
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                f"SELECT m.seq FROM jarvis.memories m, (SELECT {queries}) t "
                f"WHERE m.user_id = %s AND m.tsv @@ ({any_term}){where} "
                f"ORDER BY {coverage} DESC, ts_rank_cd(m.tsv, {any_term}, 1) DESC, m.seq DESC LIMIT %s",
                (*stems, user_id, *params, limit),
            ).fetchall()
        return [int(r[0]) for r in rows]

    # -- vector index: per-user numpy matrices over the bytea embeddings -------------------------

    def search(self, user_id: str, vector: np.ndarray, flt: MemoryFilter, limit: int) -> list[tuple[int, float]]:
        with self.db.read(user_id) as conn:
            row = conn.execute("SELECT index_version FROM jarvis.users WHERE id = %s", (user_id,)).fetchone()
            if row is None:
                return []
            tag_seqs = None
            if flt.tags:
                tag_seqs = np.array([r[0] for r in conn.execute(
                    "SELECT seq FROM jarvis.memories WHERE user_id = %s AND tags && %s::text[]",
                    (user_id, list(flt.tags)))], np.int64)
        matrix = self.cache.get(user_id, int(row[0])) or self._load(user_id)
        return matrix.search(vector.astype(np.float32, copy=False), flt, tag_seqs, limit)

    def _load(self, user_id: str) -> UserMatrix:
        with self.db.read(user_id) as conn:
            self._check_model(conn)
            # One statement, one snapshot: the version and the rows agree.
            rows = conn.execute(
                "SELECT u.index_version, m.seq, m.kind, m.ts, m.embedding FROM jarvis.users u "
                "LEFT JOIN jarvis.memories m ON m.user_id = u.id WHERE u.id = %s ORDER BY m.seq",
                (user_id,),
            ).fetchall()
        version = int(rows[0][0]) if rows else 0
        dim = self.dim or 0
        matrix = UserMatrix(version=version, dim=dim)
        rows = [r for r in rows if r[1] is not None]
        if rows:
            matrix.append(
                np.fromiter((r[1] for r in rows), np.int64, len(rows)),
                np.frombuffer(b"".join(r[4] for r in rows), np.float32).reshape(len(rows), dim),
                np.array([KIND_CODE[r[2]] for r in rows], np.int8),
                np.array([r[3] for r in rows], np.float64),
            )
        self.cache.put(user_id, matrix)
        return matrix

    # -- conversations, actions, usage ----------------------------------------------------------

    def add_conversation(self, user_id: str, conversation: ConversationRecord) -> None:
        with self.db.session(user_id) as conn:
            conn.execute("INSERT INTO jarvis.conversations VALUES (%s, %s, %s, %s, %s)",
                         (conversation.id, user_id, conversation.title, conversation.started_at, conversation.turns))

    def recent_conversations(self, user_id: str, limit: int) -> list[ConversationRecord]:
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                "SELECT id::text, title, started_at, turns FROM jarvis.conversations WHERE user_id = %s "
                "ORDER BY started_at DESC LIMIT %s", (user_id, limit)).fetchall()
        return [ConversationRecord(*r) for r in rows]

    def record_action(self, user_id: str, tool: str, arguments: dict[str, object], status: str,
                      error: str | None, duration_ms: float) -> None:
        now = time.time()
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        with self.db.session(user_id) as conn:
            conn.execute(
                "INSERT INTO jarvis.actions VALUES (%s, %s, %s, %s::json, %s, %s, %s, %s)",
                (str(uuid.uuid4()), user_id, tool, json.dumps(arguments, default=str), status, error, now, duration_ms),
            )
            conn.execute(
                "INSERT INTO jarvis.usage AS u VALUES (%s, %s, %s, 1, %s) ON CONFLICT (user_id, day, tool) "
                "DO UPDATE SET calls = u.calls + 1, errors = u.errors + excluded.errors",
                (user_id, day, tool, int(status != "ok")),
            )

    def recent_actions(self, user_id: str, limit: int) -> list[ActionRecord]:
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                "SELECT tool, status, error, created_at, duration_ms FROM jarvis.actions WHERE user_id = %s "
                "ORDER BY created_at DESC LIMIT %s", (user_id, limit)).fetchall()
        return [ActionRecord(*r) for r in rows]

    def usage(self, user_id: str, days: int) -> list[tuple[str, str, int, int]]:
        since = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%d")
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                "SELECT day, tool, calls, errors FROM jarvis.usage WHERE user_id = %s AND day >= %s "
                "ORDER BY day DESC, tool", (user_id, since)).fetchall()
        return [(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]
