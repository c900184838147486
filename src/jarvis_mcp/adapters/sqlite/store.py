"""SqliteStore: the Store and VectorIndex ports over one SQLite file. Every statement filters on user_id.

The store is assembled from one mixin per kind of data (memories.py, documents.py, contacts.py, ...);
this module holds what is left: users and identities, conversations, the audit trail and usage."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jarvis_mcp.account.ports import ActionRecord, ConversationRecord, UserRecord
from jarvis_mcp.adapters.sqlite.audit import AuditBuffer
from jarvis_mcp.adapters.sqlite.auth import AuthTables
from jarvis_mcp.adapters.sqlite.calendar import CalendarTables
from jarvis_mcp.adapters.sqlite.calls import CallTables
from jarvis_mcp.adapters.sqlite.contacts import ContactTables
from jarvis_mcp.adapters.sqlite.database import Database
from jarvis_mcp.adapters.sqlite.documents import DocumentTables
from jarvis_mcp.adapters.sqlite.interactions import InteractionTables
from jarvis_mcp.adapters.sqlite.limits import LimitTables
from jarvis_mcp.adapters.sqlite.memories import MemoryTables
from jarvis_mcp.adapters.sqlite.outbox import OutboxTables
from jarvis_mcp.adapters.sqlite.reindex import ReindexTables
from jarvis_mcp.adapters.vector_cache import VectorCache

_USER_COLUMNS = "id, name, pronouns, timezone, locale, preferences, created_at, voice_key_hash"
_PROFILE_FIELDS = {"name", "pronouns", "timezone", "locale", "preferences"}
_LAST_SEEN_EVERY = 3600.0


def _user(row: Sequence[Any]) -> UserRecord:
    uid, name, pronouns, tz, locale, prefs, created_at, voice_key_hash = row
    return UserRecord(
        id=str(uid), name=name, pronouns=pronouns, timezone=tz, locale=locale,
        preferences=json.loads(str(prefs)), created_at=float(created_at),
        has_voice_key=voice_key_hash is not None,
    )


class SqliteStore(MemoryTables, DocumentTables, ContactTables, LimitTables, OutboxTables, CalendarTables, CallTables,
                  AuthTables, ReindexTables, InteractionTables):
    def __init__(self, path: Path, *, vector_cache_bytes: int = 2 << 30) -> None:
        self.db = Database(path)
        self.cache = VectorCache(vector_cache_bytes)
        self.audit = AuditBuffer(self.db)
        self._counts: dict[str, tuple[int, int]] = {}  # user -> (index_version, memories): IDF's N, kept per version
        self.dim: int | None = None
        self._reindex_keywords()

    def close(self) -> None:
        self.audit.close()
        self.db.close()

    # -- users and identities -------------------------------------------------------------------

    def user_for_identity(self, issuer: str, subject: str, auth_method: str, email: str | None) -> str:
        now = time.time()
        row = self.db.conn.execute(
            "SELECT user_id, last_seen_at FROM identities WHERE issuer = ? AND subject = ?", (issuer, subject)
        ).fetchone()
        if row and now - row[1] < _LAST_SEEN_EVERY:
            return str(row[0])
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT user_id FROM identities WHERE issuer = ? AND subject = ?", (issuer, subject)
            ).fetchone()
            if row:
                conn.execute(
                    "UPDATE identities SET last_seen_at = ? WHERE issuer = ? AND subject = ?", (now, issuer, subject)
                )
                return str(row[0])
            user_id = None
            if email:
                # A verified email already known is the proof that links a new sign-in method to a user.
                linked = conn.execute(
                    "SELECT user_id FROM identities WHERE email = ? ORDER BY created_at LIMIT 1", (email.lower(),)
                ).fetchone()
                user_id = linked[0] if linked else None
            if user_id is None:
                user_id = str(uuid.uuid4())
                conn.execute("INSERT INTO users (id, created_at, updated_at) VALUES (?, ?, ?)", (user_id, now, now))
            conn.execute(
                "INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?, ?)",
                (issuer, subject, user_id, auth_method, email.lower() if email else None, now, now),
            )
            return str(user_id)

    def get_user(self, user_id: str) -> UserRecord | None:
        row = self.db.conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
        return _user(row) if row else None

    def update_user(self, user_id: str, fields: dict[str, object]) -> UserRecord:
        unknown = set(fields) - _PROFILE_FIELDS
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        values = {k: json.dumps(v) if k == "preferences" else v for k, v in fields.items()}
        with self.db.transaction() as conn:
            if values:
                assignments = ", ".join(f"{k} = ?" for k in values)
                conn.execute(
                    f"UPDATE users SET {assignments}, updated_at = ? WHERE id = ?",
                    (*values.values(), time.time(), user_id),
                )
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
        return _user(row)

    # -- conversations, actions, usage ----------------------------------------------------------

    def add_conversation(self, user_id: str, conversation: ConversationRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
                (conversation.id, user_id, conversation.title, conversation.started_at, conversation.turns),
            )

    def recent_conversations(self, user_id: str, limit: int) -> list[ConversationRecord]:
        rows = self.db.conn.execute(
            "SELECT id, title, started_at, turns FROM conversations WHERE user_id = ? ORDER BY started_at DESC LIMIT ?",
            (user_id, limit),
        )
        return [ConversationRecord(*r) for r in rows]

    def record_action(self, user_id: str, tool: str, arguments: dict[str, object], status: str,
                      error: str | None, duration_ms: float) -> None:
        self.audit.add(user_id, tool, arguments, status, error, duration_ms)

    def recent_actions(self, user_id: str, limit: int) -> list[ActionRecord]:
        self.audit.flush()
        rows = self.db.conn.execute(
            "SELECT tool, status, error, created_at, duration_ms FROM actions WHERE user_id = ? "
            "ORDER BY created_at DESC LIMIT ?",
            (user_id, limit),
        )
        return [ActionRecord(*r) for r in rows]

    def usage(self, user_id: str, days: int) -> list[tuple[str, str, int, int]]:
        self.audit.flush()
        since = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%d")
        rows = self.db.conn.execute(
            "SELECT day, tool, calls, errors FROM usage WHERE user_id = ? AND day >= ? ORDER BY day DESC, tool",
            (user_id, since),
        )
        return [(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]

