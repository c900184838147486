"""The local calendar's events in the Postgres store (mixed into PostgresStore). Like the SQLite store's:
every statement filters on user_id, and Row Level Security holds it to the caller's rows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from jarvis_mcp.adapters.postgres.database import Database
from jarvis_mcp.calendar.ports import EventRecord, NewEvent

_COLUMNS = "id, title, starts_at, ends_at, timezone, attendees, location, description, created_at"


def _event(row: Sequence[Any]) -> EventRecord:
    eid, title, start, end, tz, attendees, location, description, created = row
    return EventRecord(id=str(eid), title=title, start=float(start), end=float(end), timezone=tz,
                       attendees=tuple(attendees), location=location, description=description,
                       created_at=float(created))


class CalendarTables:
    db: Database

    def calendar_insert(self, user_id: str, event: NewEvent) -> EventRecord:
        with self.db.session(user_id) as conn:
            conn.execute(
                "INSERT INTO jarvis.events (user_id, id, title, starts_at, ends_at, timezone, attendees, location, "
                "description, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (user_id, id) DO NOTHING",
                (user_id, event.id, event.title, event.start, event.end, event.timezone, list(event.attendees),
                 event.location, event.description, time.time()),
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.events WHERE user_id = %s AND id = %s",
                               (user_id, event.id)).fetchone()
        return _event(row)

    def calendar_get(self, user_id: str, event_id: str) -> EventRecord | None:
        with self.db.read(user_id) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jarvis.events WHERE user_id = %s AND id = %s",
                               (user_id, event_id)).fetchone()
        return _event(row) if row else None

    def calendar_list(self, user_id: str, start: float, end: float, limit: int) -> list[EventRecord]:
        with self.db.read(user_id) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jarvis.events WHERE user_id = %s AND starts_at < %s AND ends_at > %s "
                "ORDER BY starts_at, id LIMIT %s",
                (user_id, end, start, limit),
            ).fetchall()
        return [_event(r) for r in rows]

    def calendar_delete(self, user_id: str, event_id: str) -> bool:
        with self.db.session(user_id) as conn:
            gone = conn.execute("DELETE FROM jarvis.events WHERE user_id = %s AND id = %s RETURNING id",
                                (user_id, event_id)).fetchone()
        return gone is not None
