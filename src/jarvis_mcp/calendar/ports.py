"""The calendar toolset's ports: what its service needs from the world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from jarvis_mcp.ports import ProviderFailure


@dataclass(frozen=True)
class NewEvent:
    """An event to create. `id` is chosen by the caller (from the action id), so a retried insert finds
    the first one instead of creating a second."""

    id: str  # 32 lower-case hex digits: valid as a Google Calendar event id too
    title: str
    start: float  # epoch seconds
    end: float
    timezone: str  # IANA name the event is shown in
    attendees: tuple[str, ...] = ()  # email addresses
    location: str | None = None
    description: str | None = None



@dataclass(frozen=True)
class EventRecord:
    id: str  # the provider's reference
    title: str
    start: float
    end: float
    timezone: str
    attendees: tuple[str, ...] = ()
    location: str | None = None
    description: str | None = None
    link: str | None = None  # where the provider shows it (Google's htmlLink)
    created_at: float | None = None


class CalendarError(ProviderFailure):
    """The calendar provider failed. ambiguous: a write may have gone through (an attempt got no answer)."""

    def __init__(self, message: str, *, auth: bool = False, ambiguous: bool = False) -> None:
        super().__init__(message, auth=auth)
        self.ambiguous = ambiguous


class Calendar(Protocol):
    """One user's calendar (local, or Google), built for that user; times are epoch seconds."""

    provider: str

    def insert(self, event: NewEvent) -> str:
        """Create it and return the provider's reference; the same event id again returns the same event."""
        ...
    def get(self, ref: str) -> EventRecord | None: ...
    def list(self, start: float, end: float, limit: int) -> list[EventRecord]:
        """Events overlapping [start, end), by start time (recurring events expanded)."""
        ...
    def delete(self, ref: str, notify: bool) -> bool:
        """False when there was no such event. notify: tell the attendees."""
        ...
    def busy(self, start: float, end: float) -> list[tuple[float, float]]:
        """Busy intervals overlapping [start, end) (Google: free/busy, which also sees other calendars)."""
        ...


class CalendarStore(Protocol):
    """The local calendar's events in the store; every method touches one user's rows only."""

    def calendar_insert(self, user_id: str, event: NewEvent) -> EventRecord:
        """Insert, or return the user's event with that id unchanged (idempotent)."""
        ...
    def calendar_get(self, user_id: str, event_id: str) -> EventRecord | None: ...
    def calendar_list(self, user_id: str, start: float, end: float, limit: int) -> list[EventRecord]: ...
    def calendar_delete(self, user_id: str, event_id: str) -> bool: ...
