"""What a new event overlaps, and how times and overlaps are put in words for summaries and refusals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jarvis_mcp.calendar.models import EventConflict
from jarvis_mcp.calendar.ports import EventRecord
from jarvis_mcp.text import fold, zone


def when(start: datetime, end: datetime) -> str:
    same_day = start.date() == end.date()
    return f"{start:%a %Y-%m-%d %H:%M}-{end:%H:%M}" if same_day else f"{start:%a %Y-%m-%d %H:%M} to {end:%a %Y-%m-%d %H:%M}"


def conflict_text(conflicts: Sequence[EventConflict]) -> str:
    return "; ".join(f"{c.title!r} {when(c.start, c.end)}" if c.title else f"busy {when(c.start, c.end)}"
                     for c in conflicts)


def dumped(conflicts: Sequence[EventConflict]) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json") for c in conflicts]


def overlaps(busy: Sequence[tuple[float, float]], events: Sequence[EventRecord], timezone: str | None, *,
             exclude: str | None = None, same_as: tuple[str, datetime, datetime] | None = None) -> list[EventConflict]:
    """The conflicts in [start, end): the listed events there, plus busy time no listed event explains
    (Google's free/busy also sees the user's other calendars). `busy` empty means nothing overlaps.

    `exclude` is the event the action itself made; `same_as` an identical event (same title and times),
    which is this very request made again, not a conflict with it."""
    if not busy:
        return []
    out: list[EventConflict] = []
    for e in events:
        identical = same_as is not None and (fold(e.title), e.start, e.end) == (
            fold(same_as[0]), same_as[1].timestamp(), same_as[2].timestamp())
        if e.id == exclude or identical:
            continue
        tz = zone(e.timezone)
        out.append(EventConflict(start=datetime.fromtimestamp(e.start, tz), end=datetime.fromtimestamp(e.end, tz),
                                 event_id=e.id, title=e.title))
    tz = zone(timezone)
    for b_start, b_end in busy:
        if not any(e.start < b_end and e.end > b_start for e in events):
            out.append(EventConflict(start=datetime.fromtimestamp(b_start, tz), end=datetime.fromtimestamp(b_end, tz)))
    return out
