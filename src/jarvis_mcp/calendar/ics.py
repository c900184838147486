"""Events as an iCalendar file (RFC 5545), via the icalendar package: what jarvis://me/calendar.ics serves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress

from jarvis_mcp.calendar.ports import EventRecord
from jarvis_mcp.text import zone

PRODID = "-//jarvis-mcp//calendar//EN"
UID_DOMAIN = "jarvis-mcp"


def to_ics(events: Sequence[EventRecord], *, now: float) -> str:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    stamp = datetime.fromtimestamp(now, UTC)
    for e in events:
        tz = zone(e.timezone)
        item = Event()
        item.add("uid", f"{e.id}@{UID_DOMAIN}")
        item.add("dtstamp", stamp)
        item.add("dtstart", datetime.fromtimestamp(e.start, tz))
        item.add("dtend", datetime.fromtimestamp(e.end, tz))
        item.add("summary", e.title)
        if e.location:
            item.add("location", e.location)
        if e.description:
            item.add("description", e.description)
        if e.created_at is not None:
            item.add("created", datetime.fromtimestamp(e.created_at, UTC))
        for email in e.attendees:
            item.add("attendee", vCalAddress(f"mailto:{email}"), encode=False)
        cal.add_component(item)
    if events:
        # Each TZID used above needs its VTIMEZONE for the file to be self-contained (RFC 5545 §3.6.5),
        # with the transitions of the years the events span (icalendar's default stops at 2038).
        first = datetime.fromtimestamp(min(e.start for e in events), UTC).date() - timedelta(days=1)
        last = datetime.fromtimestamp(max(e.end for e in events), UTC).date() + timedelta(days=1)
        cal.add_missing_timezones(first_date=first, last_date=last)
    return cal.to_ical().decode("utf-8")
