"""Contacts, credentials and sync state in the Postgres store (mixed into PostgresStore). Like the SQLite
store's: every statement filters on user_id (and RLS holds it to the caller); search goes through the
shared per-user in-memory index, checked against contact_versions so other processes' writes are seen."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import psycopg

from jarvis_mcp.adapters.contact_index import ContactIndex, ContactIndexCache
from jarvis_mcp.adapters.postgres.database import Database, uuids
from jarvis_mcp.contacts.ports import ContactMatch, ContactRecord, ContactWrite
from jarvis_mcp.text import fold

_COLUMNS = (
    "id::text, name, emails, phones, company, role, tags, notes, relationship, source, source_id, "
    "agent_id, voice, personality, created_at, updated_at"
)
_PATCH_LIMIT = 1000  # past this many writes in one batch, rebuilding on the next search beats patching


def _record(row: Sequence[Any]) -> ContactRecord:
    (cid, name, emails, phones, company, role, tags, notes, relationship, source, source_id,
     agent_id, voice, personality, created_at, updated_at) = row[:16]
    return ContactRecord(
        id=str(cid), name=name, emails=tuple(emails), phones=tuple(phones), company=company, role=role,
        tags=tuple(tags), notes=notes, relationship=relationship, source=source, source_id=source_id,
        agent_id=agent_id, voice=voice, personality=personality, created_at=float(created_at),
        updated_at=float(updated_at),
    )


class ContactTables:
    db: Database
    _check_model: Any  # ModelGuard (postgres/reindex.py): refuses once a reindex moved the model

    @cached_property
    def contact_indexes(self) -> ContactIndexCache:
        return ContactIndexCache()

    # -- reads ----------------------------------------------------------------------------------

    def contacts_by_id(self, user_id: str, ids: Sequence[str]) -> list[ContactRecord]:
        wanted = uuids(ids)
        if not wanted:
            return []
        with self.db.read(user_id) as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.contacts WHERE user_id = %s AND id = ANY(%s::uuid[])",
                                (user_id, wanted)).fetchall()
        return [_record(r) for r in rows]

    def contacts_by_handles(self, user_id: str, emails: Sequence[str], phones: Sequence[str]) -> list[tuple[str, ContactRecord]]:
        if not emails and not phones:
            return []
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                "SELECT h.handle, " + ", ".join(f"c.{c.strip()}" for c in _COLUMNS.split(",")) +
                " FROM (SELECT email AS handle, contact_id FROM jarvis.contact_emails WHERE user_id = %s AND email = ANY(%s) "
                "UNION ALL SELECT e164, contact_id FROM jarvis.contact_phones WHERE user_id = %s AND e164 = ANY(%s)) h "
                "JOIN jarvis.contacts c ON c.user_id = %s AND c.id = h.contact_id",
                (user_id, list(emails), user_id, list(phones), user_id),
            ).fetchall()
        return [(str(r[0]), _record(r[1:])) for r in rows]

    def contacts_by_source(self, user_id: str, source: str, source_ids: Sequence[str]) -> dict[str, ContactRecord]:
        if not source_ids:
            return {}
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jarvis.contacts WHERE user_id = %s AND source = %s AND source_id = ANY(%s)",
                (user_id, source, list(source_ids)),
            ).fetchall()
        return {r.source_id: r for r in map(_record, rows) if r.source_id is not None}

    def contacts_by_name(self, user_id: str, names_folded: Sequence[str]) -> list[ContactRecord]:
        if not names_folded:
            return []
        with self.db.read(user_id) as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.contacts WHERE user_id = %s AND name_folded = ANY(%s)",
                                (user_id, list(names_folded))).fetchall()
        return [_record(r) for r in rows]

    def source_ids(self, user_id: str, source: str) -> dict[str, str]:
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                "SELECT source_id, id::text FROM jarvis.contacts WHERE user_id = %s AND source = %s "
                "AND source_id IS NOT NULL", (user_id, source)).fetchall()
        return {str(sid): str(cid) for sid, cid in rows}

    def list_contacts(self, user_id: str, offset: int, limit: int) -> list[ContactRecord]:
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                # COLLATE "C": the same order as SQLite's byte-wise text comparison.
                f'SELECT {_COLUMNS} FROM jarvis.contacts WHERE user_id = %s ORDER BY name_folded COLLATE "C", id::text '
                "LIMIT %s OFFSET %s", (user_id, limit, offset)).fetchall()
        return [_record(r) for r in rows]

    def count_contacts(self, user_id: str) -> int:
        with self.db.read(user_id) as conn:
            return int(conn.execute("SELECT count(*) FROM jarvis.contacts WHERE user_id = %s", (user_id,)).fetchone()[0])

    # -- search ---------------------------------------------------------------------------------

    def search_contacts(self, user_id: str, query: str, tags: Sequence[str] | None, limit: int) -> list[ContactMatch]:
        index = self._contact_index(user_id)
        if index is None:
            return []
        with index.lock:
            return index.search(query, tags, limit)

    def nearest_contacts(self, user_id: str, vector: np.ndarray, tags: Sequence[str] | None,
                         limit: int) -> list[tuple[ContactRecord, float]]:
        index = self._contact_index(user_id)
        if index is None:
            return []
        with index.lock:
            return index.nearest(vector, tags, limit)

    def _contact_index(self, user_id: str) -> ContactIndex | None:
        with self.db.read(user_id) as conn:
            version = _version(conn, user_id)
        if version == 0:
            return None
        cache = self.contact_indexes
        with cache.lock:
            index = cache.get(user_id, version)
        if index is not None and not index.needs_compaction:
            return index
        if index is not None:
            with index.lock:
                fresh = index.compacted()
        else:
            fresh = self._load_contact_index(user_id)
        cache.put(user_id, fresh)
        return fresh

    def _load_contact_index(self, user_id: str) -> ContactIndex:
        with self.db.read(user_id) as conn:
            self._check_model(conn)  # notes vectors of another model (after a reindex) cannot be searched
            # One statement, one snapshot: the version and the rows agree.
            rows = conn.execute(
                "SELECT v.version, " + ", ".join(f"c.{c.strip()}" for c in _COLUMNS.split(",")) + ", c.notes_vector "
                "FROM (SELECT coalesce((SELECT version FROM jarvis.contact_versions WHERE user_id = %s), 0) AS version) v "
                "LEFT JOIN jarvis.contacts c ON c.user_id = %s ORDER BY c.seq",
                (user_id, user_id),
            ).fetchall()
        index = ContactIndex(int(rows[0][0]) if rows else 0)
        for row in rows:
            if row[1] is None:
                continue
            blob = row[17]
            vec = np.frombuffer(blob, np.float32) if blob else None
            if vec is not None:
                index.dim = len(vec)
            index.upsert(_record(row[1:]), vec)
        return index

    # -- writes ---------------------------------------------------------------------------------

    def write_contacts(self, user_id: str, writes: Sequence[ContactWrite]) -> list[ContactRecord]:
        if not writes:
            return []
        now = time.time()
        out: list[ContactRecord] = []
        vectors: list[np.ndarray | None] = []
        with self.db.session(user_id) as conn:
            old = _lock_version(conn, user_id)
            self._check_model(conn)
            for w in writes:
                vec = w.notes_vector.astype(np.float32).tobytes() if w.notes_vector is not None else None
                values = (w.name, fold(w.name), list(w.emails), list(w.phones), w.company, w.role, list(w.tags),
                          w.notes, w.relationship, w.source, w.source_id)
                if w.id is None:
                    cid = str(uuid.uuid4())
                    row = conn.execute(
                        "INSERT INTO jarvis.contacts (name, name_folded, emails, phones, company, role, tags, notes, "
                        "relationship, source, source_id, id, user_id, notes_vector, created_at, updated_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        "RETURNING agent_id, voice, personality, created_at, notes_vector",
                        (*values, cid, user_id, vec, now, now),
                    ).fetchone()
                else:
                    if not uuids([w.id]):
                        continue
                    cid = w.id
                    row = conn.execute(
                        "UPDATE jarvis.contacts SET name = %s, name_folded = %s, emails = %s, phones = %s, company = %s, "
                        "role = %s, tags = %s, notes = %s, relationship = %s, source = %s, source_id = %s, "
                        "notes_vector = CASE WHEN %s THEN notes_vector ELSE %s END, updated_at = %s "
                        "WHERE user_id = %s AND id = %s RETURNING agent_id, voice, personality, created_at, notes_vector",
                        (*values, w.keep_vector, vec, now, user_id, cid),
                    ).fetchone()
                    if row is None:  # not this user's: the service checked, so this is a race with a delete
                        continue
                    conn.execute("DELETE FROM jarvis.contact_emails WHERE user_id = %s AND contact_id = %s", (user_id, cid))
                    conn.execute("DELETE FROM jarvis.contact_phones WHERE user_id = %s AND contact_id = %s", (user_id, cid))
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO jarvis.contact_emails VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                                    [(user_id, e, cid) for e in w.emails])
                    cur.executemany("INSERT INTO jarvis.contact_phones VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                                    [(user_id, p, p.lstrip("+"), cid) for p in w.phones])
                agent_id, voice, personality, created_at, stored_vec = row
                out.append(ContactRecord(
                    id=cid, name=w.name, emails=w.emails, phones=w.phones, company=w.company, role=w.role,
                    tags=w.tags, notes=w.notes, relationship=w.relationship, source=w.source, source_id=w.source_id,
                    agent_id=agent_id, voice=voice, personality=personality, created_at=float(created_at),
                    updated_at=now,
                ))
                vectors.append(np.frombuffer(stored_vec, np.float32) if stored_vec else None)
            new = _bump(conn, user_id, old)
        self._patch_index(user_id, old, new, len(writes), lambda index: [
            index.upsert(rec, vec) for rec, vec in zip(out, vectors, strict=True)
        ])
        return out

    def delete_contacts(self, user_id: str, ids: Sequence[str]) -> list[str]:
        wanted = uuids(ids)
        if not wanted:
            return []
        with self.db.session(user_id) as conn:
            old = _lock_version(conn, user_id)
            gone = [str(r[0]) for r in conn.execute(
                "DELETE FROM jarvis.contacts WHERE user_id = %s AND id = ANY(%s::uuid[]) RETURNING id::text",
                (user_id, wanted)).fetchall()]
            if not gone:
                return []
            new = _bump(conn, user_id, old)
        self._patch_index(user_id, old, new, len(gone), lambda index: [index.remove(cid) for cid in gone])
        return gone

    def _patch_index(self, user_id: str, old: int, new: int, count: int, apply: Callable[[ContactIndex], object]) -> None:
        cache = self.contact_indexes
        # Holding the cache lock while patching: no search can pick up the new version half-applied.
        with cache.lock:
            index = cache.advance(user_id, old, new)
            if index is None:
                return
            if count > _PATCH_LIMIT:
                cache.drop(user_id)
                return
            with index.lock:
                apply(index)

    # -- sync state and credentials -------------------------------------------------------------

    def get_sync_token(self, user_id: str, provider: str) -> str | None:
        with self.db.read(user_id) as conn:
            row = conn.execute("SELECT sync_token FROM jarvis.sync_state WHERE user_id = %s AND provider = %s",
                               (user_id, provider)).fetchone()
        return row[0] if row else None

    def set_sync_token(self, user_id: str, provider: str, token: str | None) -> None:
        with self.db.session(user_id) as conn:
            conn.execute(
                "INSERT INTO jarvis.sync_state VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, provider) "
                "DO UPDATE SET sync_token = excluded.sync_token, updated_at = excluded.updated_at",
                (user_id, provider, token, time.time()),
            )

    def get_credential(self, user_id: str, provider: str) -> bytes | None:
        with self.db.read(user_id) as conn:
            row = conn.execute("SELECT secret FROM jarvis.credentials WHERE user_id = %s AND provider = %s",
                               (user_id, provider)).fetchone()
        return bytes(row[0]) if row else None

    def put_credential(self, user_id: str, provider: str, secret: bytes) -> None:
        now = time.time()
        with self.db.session(user_id) as conn:
            conn.execute(
                "INSERT INTO jarvis.credentials VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id, provider) "
                "DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at",
                (user_id, provider, secret, now, now),
            )

    def delete_credential(self, user_id: str, provider: str) -> bool:
        with self.db.session(user_id) as conn:
            return conn.execute(
                "DELETE FROM jarvis.credentials WHERE user_id = %s AND provider = %s RETURNING provider", (user_id, provider)
            ).fetchone() is not None


def _version(conn: psycopg.Connection, user_id: str) -> int:
    row = conn.execute("SELECT version FROM jarvis.contact_versions WHERE user_id = %s", (user_id,)).fetchone()
    return int(row[0]) if row else 0


def _lock_version(conn: psycopg.Connection, user_id: str) -> int:
    # The user's row lock orders this user's contact writers, so each moves the version by exactly one.
    conn.execute("SELECT 1 FROM jarvis.users WHERE id = %s FOR UPDATE", (user_id,))
    return _version(conn, user_id)


def _bump(conn: psycopg.Connection, user_id: str, old: int) -> int:
    conn.execute(
        "INSERT INTO jarvis.contact_versions VALUES (%s, %s) ON CONFLICT (user_id) DO UPDATE SET version = excluded.version",
        (user_id, old + 1),
    )
    return old + 1
