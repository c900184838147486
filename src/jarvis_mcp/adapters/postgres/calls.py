"""Calls in the Postgres store (mixed into PostgresStore); mirrors the SQLite store's. Every statement
filters on user_id and runs under that user's claims (RLS)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from jarvis_mcp.adapters.postgres.database import Database, uuids
from jarvis_mcp.calls.ports import CallRecord

_COLUMNS = "action_id::text, conversation_id, status, transcript, summary, duration_seconds, ended_reason, updated_at"


def _record(row: Sequence[Any]) -> CallRecord:
    call_id, conversation_id, status, transcript, summary, duration, ended, updated = row
    return CallRecord(
        call_id=str(call_id), conversation_id=conversation_id, status=status, transcript=tuple(transcript or ()),
        summary=summary, duration_seconds=duration, ended_reason=ended, updated_at=float(updated),
    )


class CallTables:
    db: Database

    def call_get(self, user_id: str, call_id: str) -> CallRecord | None:
        if not uuids([call_id]):
            return None
        with self.db.read(user_id) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.calls WHERE user_id = %s AND action_id = %s",
                               (user_id, call_id)).fetchone()
        return _record(row) if row else None

    def call_put(self, user_id: str, record: CallRecord) -> None:
        if not uuids([record.call_id]):
            return
        with self.db.session(user_id) as conn:
            # The row hangs off the user's own call action: an id of someone else's writes nothing.
            conn.execute(
                "INSERT INTO jarvis.calls (action_id, conversation_id, status, transcript, summary, duration_seconds, "
                "ended_reason, updated_at, user_id) SELECT id, %s, %s, %s, %s, %s, %s, %s, user_id FROM jarvis.outbox "
                "WHERE user_id = %s AND id = %s AND kind = 'call_contact' "
                "ON CONFLICT (action_id) DO UPDATE SET conversation_id = excluded.conversation_id, "
                "status = excluded.status, transcript = excluded.transcript, summary = excluded.summary, "
                "duration_seconds = excluded.duration_seconds, ended_reason = excluded.ended_reason, "
                "updated_at = excluded.updated_at WHERE jarvis.calls.user_id = excluded.user_id",
                (record.conversation_id, record.status, Jsonb(list(record.transcript)), record.summary,
                 record.duration_seconds, record.ended_reason, record.updated_at, user_id, record.call_id),
            )

    def call_owner(self, call_id: str) -> str | None:
        # Across users, so through the definer function (0016), which answers with the owner's id only.
        if not uuids([call_id]):
            return None
        with self.db.anonymous() as conn:
            row = conn.execute("SELECT jarvis.call_owner(%s)::text", (call_id,)).fetchone()
        return row[0] if row and row[0] else None

    def set_contact_voice(self, user_id: str, contact_id: str, voice: str | None,
                          personality: str | None) -> str | None:
        if not uuids([contact_id]):
            return None
        with self.db.session(user_id) as conn:
            row = conn.execute("UPDATE jarvis.contacts SET voice = %s, personality = %s, updated_at = %s "
                               "WHERE user_id = %s AND id = %s RETURNING agent_id",
                               (voice, personality, time.time(), user_id, contact_id)).fetchone()
        return (row[0] or "") if row else None

    def set_contact_agent(self, user_id: str, contact_id: str, agent_id: str) -> str | None:
        if not uuids([contact_id]):
            return None
        with self.db.session(user_id) as conn:
            row = conn.execute(
                "UPDATE jarvis.contacts SET agent_id = COALESCE(agent_id, %s), "
                "updated_at = CASE WHEN agent_id IS NULL THEN %s ELSE updated_at END "
                "WHERE user_id = %s AND id = %s RETURNING agent_id",
                (agent_id, time.time(), user_id, contact_id),
            ).fetchone()
        return row[0] if row else None
