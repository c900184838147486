"""The local calendar's events in SQLite (mixed into SqliteStore). Every statement filters on user_id."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from jarvis_mcp.calendar.ports import EventRecord, NewEvent

_COLUMNS = "id, title, starts_at, ends_at, timezone, attendees, location, description, created_at"


def _event(row: Sequence[Any]) -> EventRecord:
    eid, title, start, end, tz, attendees, location, description, created = row
    return EventRecord(id=str(eid), title=title, start=float(start), end=float(end), timezone=tz,
                       attendees=tuple(json.loads(attendees)), location=location, description=description,
                       created_at=float(created))


class CalendarTables:
    db: Any  # adapters.sqlite.database.Database, provided by SqliteStore

    def calendar_insert(self, user_id: str, event: NewEvent) -> EventRecord:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO events (user_id, id, title, starts_at, ends_at, timezone, attendees, location, "
                "description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, id) DO NOTHING",
                (user_id, event.id, event.title, event.start, event.end, event.timezone, json.dumps(list(event.attendees)),
                 event.location, event.description, time.time()),
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM events WHERE user_id = ? AND id = ?",
                               (user_id, event.id)).fetchone()
        return _event(row)

    def calendar_get(self, user_id: str, event_id: str) -> EventRecord | None:
        row = self.db.conn.execute(f"SELECT {_COLUMNS} FROM events WHERE user_id = ? AND id = ?",
                                   (user_id, event_id)).fetchone()
        return _event(row) if row else None

    def calendar_list(self, user_id: str, start: float, end: float, limit: int) -> list[EventRecord]:
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE user_id = ? AND starts_at < ? AND ends_at > ? "
            "ORDER BY starts_at, id LIMIT ?",
            (user_id, end, start, limit),
        )
        return [_event(r) for r in rows]

    def calendar_delete(self, user_id: str, event_id: str) -> bool:
        with self.db.transaction() as conn:
            gone = conn.execute("DELETE FROM events WHERE user_id = ? AND id = ? RETURNING id",
                                (user_id, event_id)).fetchone()
        return gone is not None
