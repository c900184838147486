"""Calls in the SQLite store (mixed into SqliteStore): the provider's cached word on each placed call, and
the per-contact voice agent saved on the contact. Every statement filters on user_id."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from jarvis_mcp.calls.ports import CallRecord

_COLUMNS = "action_id, conversation_id, status, transcript, summary, duration_seconds, ended_reason, updated_at"


def _record(row: Sequence[Any]) -> CallRecord:
    call_id, conversation_id, status, transcript, summary, duration, ended, updated = row
    return CallRecord(
        call_id=call_id, conversation_id=conversation_id, status=status, transcript=tuple(json.loads(transcript)),
        summary=summary, duration_seconds=duration, ended_reason=ended, updated_at=float(updated),
    )


class CallTables:
    db: Any  # adapters.sqlite.database.Database, provided by SqliteStore

    def call_get(self, user_id: str, call_id: str) -> CallRecord | None:
        row = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM calls WHERE user_id = ? AND action_id = ?", (user_id, call_id)
        ).fetchone()
        return _record(row) if row else None

    def call_put(self, user_id: str, record: CallRecord) -> None:
        with self.db.transaction() as conn:
            # The row hangs off the user's own call action: an id of someone else's writes nothing.
            conn.execute(
                f"INSERT INTO calls ({_COLUMNS}, user_id) SELECT ?, ?, ?, ?, ?, ?, ?, ?, user_id FROM outbox "
                "WHERE user_id = ? AND id = ? AND kind = 'call_contact' "
                "ON CONFLICT (action_id) DO UPDATE SET conversation_id = excluded.conversation_id, "
                "status = excluded.status, transcript = excluded.transcript, summary = excluded.summary, "
                "duration_seconds = excluded.duration_seconds, ended_reason = excluded.ended_reason, "
                "updated_at = excluded.updated_at WHERE calls.user_id = excluded.user_id",
                (record.call_id, record.conversation_id, record.status, json.dumps(list(record.transcript)),
                 record.summary, record.duration_seconds, record.ended_reason, record.updated_at,
                 user_id, record.call_id),
            )

    def call_owner(self, call_id: str) -> str | None:
        row = self.db.conn.execute("SELECT user_id FROM outbox WHERE id = ? AND kind = 'call_contact'",
                                   (call_id,)).fetchone()
        return row[0] if row else None

    def set_contact_voice(self, user_id: str, contact_id: str, voice: str | None,
                          personality: str | None) -> str | None:
        with self.db.transaction() as conn:
            row = conn.execute("UPDATE contacts SET voice = ?, personality = ?, updated_at = ? "
                               "WHERE user_id = ? AND id = ? RETURNING agent_id",
                               (voice, personality, time.time(), user_id, contact_id)).fetchone()
        return (row[0] or "") if row else None

    def set_contact_agent(self, user_id: str, contact_id: str, agent_id: str) -> str | None:
        # Search results never carry agent fields, so the contact index (and its version) is left alone.
        with self.db.transaction() as conn:
            row = conn.execute(
                "UPDATE contacts SET agent_id = COALESCE(agent_id, ?), "
                "updated_at = CASE WHEN agent_id IS NULL THEN ? ELSE updated_at END "
                "WHERE user_id = ? AND id = ? RETURNING agent_id",
                (agent_id, time.time(), user_id, contact_id),
            ).fetchone()
        return row[0] if row else None
