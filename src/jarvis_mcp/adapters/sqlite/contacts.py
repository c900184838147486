"""Contacts, credentials and sync state in the SQLite store (mixed into SqliteStore). Every statement
filters on user_id; search goes through a per-user in-memory index checked against contact_versions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from jarvis_mcp.adapters.contact_index import ContactIndex, ContactIndexCache
from jarvis_mcp.adapters.sqlite.database import Database
from jarvis_mcp.contacts.ports import ContactMatch, ContactRecord, ContactWrite
from jarvis_mcp.text import fold

_COLUMNS = (
    "id, name, emails, phones, company, role, tags, notes, relationship, source, source_id, "
    "agent_id, voice, personality, created_at, updated_at"
)
# Past this many writes in one batch, rebuilding the index on the next search beats patching it.
_PATCH_LIMIT = 1000


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _record(row: Sequence[Any]) -> ContactRecord:
    (cid, name, emails, phones, company, role, tags, notes, relationship, source, source_id,
     agent_id, voice, personality, created_at, updated_at) = row[:16]
    return ContactRecord(
        id=cid, name=name, emails=tuple(json.loads(emails)), phones=tuple(json.loads(phones)), company=company,
        role=role, tags=tuple(json.loads(tags)), notes=notes, relationship=relationship, source=source,
        source_id=source_id, agent_id=agent_id, voice=voice, personality=personality,
        created_at=float(created_at), updated_at=float(updated_at),
    )


class ContactTables:
    db: Database
    _check_model: Any  # ReindexTables (sqlite/reindex.py): refuses once a reindex moved the model

    @cached_property
    def contact_indexes(self) -> ContactIndexCache:
        return ContactIndexCache()

    # -- reads ----------------------------------------------------------------------------------

    def contacts_by_id(self, user_id: str, ids: Sequence[str]) -> list[ContactRecord]:
        if not ids:
            return []
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE user_id = ? AND id IN ({_marks(len(ids))})", (user_id, *ids)
        )
        return [_record(r) for r in rows]

    def contacts_by_handles(self, user_id: str, emails: Sequence[str], phones: Sequence[str]) -> list[tuple[str, ContactRecord]]:
        pairs: list[tuple[str, str]] = []
        conn = self.db.conn
        if emails:
            pairs += conn.execute(
                f"SELECT email, contact_id FROM contact_emails WHERE user_id = ? AND email IN ({_marks(len(emails))})",
                (user_id, *emails),
            ).fetchall()
        if phones:
            pairs += conn.execute(
                f"SELECT e164, contact_id FROM contact_phones WHERE user_id = ? AND e164 IN ({_marks(len(phones))})",
                (user_id, *phones),
            ).fetchall()
        records = {r.id: r for r in self.contacts_by_id(user_id, list({cid for _, cid in pairs}))}
        return [(handle, records[cid]) for handle, cid in pairs if cid in records]

    def contacts_by_source(self, user_id: str, source: str, source_ids: Sequence[str]) -> dict[str, ContactRecord]:
        if not source_ids:
            return {}
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE user_id = ? AND source = ? AND source_id IN ({_marks(len(source_ids))})",
            (user_id, source, *source_ids),
        )
        return {r.source_id: r for r in map(_record, rows) if r.source_id is not None}

    def contacts_by_name(self, user_id: str, names_folded: Sequence[str]) -> list[ContactRecord]:
        if not names_folded:
            return []
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE user_id = ? AND name_folded IN ({_marks(len(names_folded))})",
            (user_id, *names_folded),
        )
        return [_record(r) for r in rows]

    def source_ids(self, user_id: str, source: str) -> dict[str, str]:
        rows = self.db.conn.execute(
            "SELECT source_id, id FROM contacts WHERE user_id = ? AND source = ? AND source_id IS NOT NULL",
            (user_id, source),
        )
        return {str(sid): str(cid) for sid, cid in rows}

    def list_contacts(self, user_id: str, offset: int, limit: int) -> list[ContactRecord]:
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE user_id = ? ORDER BY name_folded, id LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [_record(r) for r in rows]

    def count_contacts(self, user_id: str) -> int:
        return int(self.db.conn.execute("SELECT count(*) FROM contacts WHERE user_id = ?", (user_id,)).fetchone()[0])

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
        conn = self.db.conn
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
        conn = self.db.conn
        conn.execute("BEGIN")  # one snapshot: version and rows agree
        try:
            self._check_model(conn)  # notes vectors of another model (after a reindex) cannot be searched
            version = _version(conn, user_id)
            rows = conn.execute(f"SELECT {_COLUMNS}, notes_vector FROM contacts WHERE user_id = ? ORDER BY seq",
                                (user_id,)).fetchall()
        finally:
            conn.execute("COMMIT")
        index = ContactIndex(version)
        for row in rows:
            blob = row[16]
            vec = np.frombuffer(blob, np.float32) if blob else None
            if vec is not None:
                index.dim = len(vec)
            index.upsert(_record(row), vec)
        return index

    # -- writes ---------------------------------------------------------------------------------

    def write_contacts(self, user_id: str, writes: Sequence[ContactWrite]) -> list[ContactRecord]:
        if not writes:
            return []
        now = time.time()
        out: list[ContactRecord] = []
        vectors: list[np.ndarray | None] = []
        with self.db.transaction() as conn:
            self._check_model(conn)
            old = _version(conn, user_id)
            for w in writes:
                vec = w.notes_vector.astype(np.float32).tobytes() if w.notes_vector is not None else None
                values = (w.name, fold(w.name), json.dumps(list(w.emails)), json.dumps(list(w.phones)), w.company,
                          w.role, json.dumps(list(w.tags)), w.notes, w.relationship, w.source, w.source_id)
                if w.id is None:
                    cid = str(uuid.uuid4())
                    row = conn.execute(
                        "INSERT INTO contacts (name, name_folded, emails, phones, company, role, tags, notes, "
                        "relationship, source, source_id, id, user_id, notes_vector, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "RETURNING agent_id, voice, personality, created_at, notes_vector",
                        (*values, cid, user_id, vec, now, now),
                    ).fetchone()
                else:
                    cid = w.id
                    row = conn.execute(
                        "UPDATE contacts SET name = ?, name_folded = ?, emails = ?, phones = ?, company = ?, role = ?, "
                        "tags = ?, notes = ?, relationship = ?, source = ?, source_id = ?, "
                        "notes_vector = CASE WHEN ? THEN notes_vector ELSE ? END, updated_at = ? "
                        "WHERE user_id = ? AND id = ? RETURNING agent_id, voice, personality, created_at, notes_vector",
                        (*values, int(w.keep_vector), vec, now, user_id, cid),
                    ).fetchone()
                    if row is None:  # not this user's: the service checked, so this is a race with a delete
                        continue
                    conn.execute("DELETE FROM contact_emails WHERE user_id = ? AND contact_id = ?", (user_id, cid))
                    conn.execute("DELETE FROM contact_phones WHERE user_id = ? AND contact_id = ?", (user_id, cid))
                conn.executemany("INSERT OR IGNORE INTO contact_emails VALUES (?, ?, ?)",
                                 [(user_id, e, cid) for e in w.emails])
                conn.executemany("INSERT OR IGNORE INTO contact_phones VALUES (?, ?, ?, ?)",
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
        if not ids:
            return []
        with self.db.transaction() as conn:
            gone = [str(r[0]) for r in conn.execute(
                f"DELETE FROM contacts WHERE user_id = ? AND id IN ({_marks(len(ids))}) RETURNING id", (user_id, *ids)
            ).fetchall()]
            if not gone:
                return []
            old = _version(conn, user_id)
            new = _bump(conn, user_id, old)
        self._patch_index(user_id, old, new, len(gone), lambda index: [index.remove(cid) for cid in gone])
        return gone

    def _patch_index(self, user_id: str, old: int, new: int, count: int, apply: Any) -> None:
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
        row = self.db.conn.execute(
            "SELECT sync_token FROM sync_state WHERE user_id = ? AND provider = ?", (user_id, provider)
        ).fetchone()
        return row[0] if row else None

    def set_sync_token(self, user_id: str, provider: str, token: str | None) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO sync_state VALUES (?, ?, ?, ?) ON CONFLICT (user_id, provider) "
                "DO UPDATE SET sync_token = excluded.sync_token, updated_at = excluded.updated_at",
                (user_id, provider, token, time.time()),
            )

    def get_credential(self, user_id: str, provider: str) -> bytes | None:
        row = self.db.conn.execute(
            "SELECT secret FROM credentials WHERE user_id = ? AND provider = ?", (user_id, provider)
        ).fetchone()
        return bytes(row[0]) if row else None

    def put_credential(self, user_id: str, provider: str, secret: bytes) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO credentials VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, provider) "
                "DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at",
                (user_id, provider, secret, now, now),
            )

    def delete_credential(self, user_id: str, provider: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute(
                "DELETE FROM credentials WHERE user_id = ? AND provider = ? RETURNING provider", (user_id, provider)
            ).fetchone() is not None


def _version(conn: Any, user_id: str) -> int:
    row = conn.execute("SELECT version FROM contact_versions WHERE user_id = ?", (user_id,)).fetchone()
    return int(row[0]) if row else 0


def _bump(conn: Any, user_id: str, old: int) -> int:
    conn.execute(
        "INSERT INTO contact_versions VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET version = excluded.version",
        (user_id, old + 1),
    )
    return old + 1
