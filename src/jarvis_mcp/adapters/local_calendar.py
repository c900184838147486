"""The local calendar (JARVIS_CALENDAR=local): events kept in the store for one user. Nothing leaves the
machine: no invitations are sent; the user can export them as jarvis://me/calendar.ics."""

from __future__ import annotations

from jarvis_mcp.calendar.ports import CalendarStore, EventRecord, NewEvent

#: The local calendar's busy time is its events; a cap keeps a pathological calendar from costing much.
_BUSY_SCAN = 500


class LocalCalendar:
    provider = "local"

    def __init__(self, store: CalendarStore, user_id: str) -> None:
        self.store = store
        self.user_id = user_id

    def insert(self, event: NewEvent) -> str:
        return self.store.calendar_insert(self.user_id, event).id

    def get(self, ref: str) -> EventRecord | None:
        return self.store.calendar_get(self.user_id, ref)

    def list(self, start: float, end: float, limit: int) -> list[EventRecord]:
        return self.store.calendar_list(self.user_id, start, end, limit)

    def delete(self, ref: str, notify: bool) -> bool:
        return self.store.calendar_delete(self.user_id, ref)

    def busy(self, start: float, end: float) -> list[tuple[float, float]]:
        return [(e.start, e.end) for e in self.store.calendar_list(self.user_id, start, end, _BUSY_SCAN)]
