"""The calendar for one user: schedule and cancel events (actions, through the outbox), list, export.

request_schedule / request_cancel validate everything and resolve attendees before anything is
written; the executors carry the request out once (ActionService) and re-check its target when they
run. An event's id is derived from the action's id, so a retried or recovered insert finds the event
the first attempt made instead of creating a second one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from jarvis_mcp.account.credentials import CredentialService
from jarvis_mcp.actions.service import ActionRequest, ExecutionResult, OutcomeUnknown, ProviderError
from jarvis_mcp.calendar.conflicts import conflict_text, dumped, overlaps, when
from jarvis_mcp.calendar.models import CalendarEvent, EventConflict, EventList
from jarvis_mcp.calendar.ports import Calendar, CalendarError, EventRecord, NewEvent
from jarvis_mcp.calendar.receipts import cancel_receipt, invitations, schedule_receipt
from jarvis_mcp.contacts.service import ContactService
from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.text import clean_text, valid_zone, zone

ConflictMode = Literal["warn", "refuse", "ignore"]
#: (user id, a loader of that user's Google credentials) -> the user's calendar; raises CalendarError
#: when it cannot be built (Google not connected).
CalendarFactory = Callable[[str, Callable[[], "dict[str, object] | None"]], Calendar]
T = TypeVar("T")

CONNECT_HELP = (
    "To connect Google Calendar for this user, on the machine that runs the server run "
    "`jarvis-mcp connect google --client-secrets FILE` (FILE: an OAuth client of type 'Desktop app' from "
    "Google Cloud Console, with the Google Calendar API enabled and calendar access granted), then try again."
)
MAX_DURATION = timedelta(days=14)
MAX_AHEAD = timedelta(days=10 * 366)
MAX_LIST_RANGE = timedelta(days=366)
MAX_ATTENDEES = 50
MAX_LIST = 500
_CONFLICT_SCAN = 50
_EXPORT_PAST = timedelta(days=365)
_EXPORT_AHEAD = timedelta(days=5 * 365)
_EXPORT_MAX = 5000


def event_id_for(action_id: str) -> str:
    """32 lower-case hex digits: a valid Google event id (base32hex) and a stable local one."""
    return uuid.UUID(action_id).hex


def parse_time(field: str, text: str, tz: ZoneInfo) -> datetime:
    """ISO 8601; a time without an offset is read in tz."""
    raw = text.strip()
    try:
        if not raw or len(raw) > 64:
            raise ValueError
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(field, f"{text!r} is not an ISO 8601 date-time, e.g. 2025-03-10T15:00 or "
                                  "2025-03-10T15:00:00+01:00") from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def to_event(rec: EventRecord, provider: str) -> CalendarEvent:
    tz = zone(rec.timezone)
    return CalendarEvent(
        id=rec.id, title=rec.title, start=datetime.fromtimestamp(rec.start, tz), end=datetime.fromtimestamp(rec.end, tz),
        timezone=rec.timezone, attendees=list(rec.attendees), location=rec.location, description=rec.description,
        link=rec.link, provider=provider,
    )


@dataclass(frozen=True)
class ScheduleRequest(ActionRequest):
    conflicts: tuple[EventConflict, ...] = ()  # found when it was requested (the executor looks again)


@dataclass(frozen=True)
class CancelRequest(ActionRequest):
    event: CalendarEvent | None = None


class CalendarService:
    def __init__(self, user_id: str, calendars: CalendarFactory | None, credentials: CredentialService,
                 contacts: ContactService, *, timezone: str | None, send_updates: str = "auto",
                 record: Callable[[list[str], str, float, str], None] | None = None) -> None:
        self.user_id = user_id
        self._record = record  # (contact ids or raw addresses, event id, start, title): attendees' timelines
        self._calendars = calendars
        self.credentials = credentials
        self.contacts = contacts
        self.timezone = timezone
        self.send_updates = send_updates

    # -- the provider ------------------------------------------------------------------------------

    @cached_property
    def calendar(self) -> Calendar:
        if self._calendars is None:
            raise RuntimeError("no calendar configured")
        factory = self._calendars
        return self._call(lambda: factory(self.user_id, lambda: self.credentials.load("google")))

    @property
    def provider(self) -> str:
        return self.calendar.provider

    @staticmethod
    def _call(fn: Callable[[], T]) -> T:
        try:
            return fn()
        except CalendarError as exc:
            if exc.auth:
                raise JarvisError(f"{exc}. {CONNECT_HELP}") from None
            raise ProviderError(str(exc)) from None

    def _user_zone(self, given: str | None) -> tuple[str, ZoneInfo]:
        if given is not None:
            tz = valid_zone("timezone", given)
            return tz.key, tz
        tz = zone(self.timezone)
        return tz.key, tz

    # -- scheduling --------------------------------------------------------------------------------

    def request_schedule(self, title: str, start: str, end: str | None = None, duration_minutes: int | None = None,
                         timezone: str | None = None, attendees: list[str] | None = None, location: str | None = None,
                         description: str | None = None, check_conflicts: ConflictMode = "warn",
                         idempotency_key: str | None = None) -> ScheduleRequest:
        title = clean_text("title", title, 200)
        location = clean_text("location", location, 500) if location and location.strip() else None
        description = clean_text("description", description, 8000) if description and description.strip() else None
        if check_conflicts not in ("warn", "refuse", "ignore"):
            raise InvalidInput("check_conflicts", "must be warn, refuse or ignore")
        tz_name, tz = self._user_zone(timezone)
        begin = parse_time("start", start, tz)
        if end is not None and duration_minutes is not None:
            raise InvalidInput("duration_minutes", "give end or duration_minutes, not both")
        if duration_minutes is not None:
            if not 1 <= duration_minutes <= MAX_DURATION.total_seconds() // 60:
                raise InvalidInput("duration_minutes", f"must be between 1 and {int(MAX_DURATION.total_seconds() // 60)}")
            finish = begin + timedelta(minutes=duration_minutes)
        elif end is not None:
            finish = parse_time("end", end, tz)
            if finish <= begin:
                raise InvalidInput("end", "must be after start")
            if finish - begin > MAX_DURATION:
                raise InvalidInput("end", f"an event may last at most {MAX_DURATION.days} days")
        else:
            raise InvalidInput("end", "give end or duration_minutes")
        now = time.time()
        if finish.timestamp() <= now:
            raise InvalidInput("start", f"{start!r} is in the past: the event would already be over")
        if begin.timestamp() > now + MAX_AHEAD.total_seconds():
            raise InvalidInput("start", "must be within the next 10 years")
        people = self._attendees(attendees)
        begin, finish = begin.astimezone(tz), finish.astimezone(tz)
        conflicts: list[EventConflict] = []
        if check_conflicts != "ignore":
            conflicts = self._conflicts(begin.timestamp(), finish.timestamp(), same_as=(title, begin, finish))
            if conflicts and check_conflicts == "refuse":
                raise InvalidInput("start", f"the time overlaps {len(conflicts)} other event(s): "
                                            f"{conflict_text(conflicts)}. Nothing was scheduled; pick another time, "
                                            "or pass check_conflicts='warn' to schedule anyway")
        summary = f"Schedule {title!r} on {when(begin, finish)} ({tz_name})"
        if people:
            summary += " with " + ", ".join(p["email"] for p in people)
        if conflicts:
            summary += f"; it overlaps {conflict_text(conflicts)}"
        arguments = {
            "title": title, "start": begin.isoformat(), "end": finish.isoformat(), "timezone": tz_name,
            "attendees": people, "location": location, "description": description,
            "check_conflicts": check_conflicts,
        }
        return ScheduleRequest(kind="schedule_event", arguments=arguments, summary=summary,
                               idempotency_key=idempotency_key, conflicts=tuple(conflicts))

    def _attendees(self, given: list[str] | None) -> list[dict[str, str | None]]:
        """Each attendee through the contacts' resolver: an address (a contact's, or anyone's), or a contact
        by id, phone number or name, invited at its first email address."""
        if not given:
            return []
        if len(given) > MAX_ATTENDEES:
            raise InvalidInput("attendees", f"at most {MAX_ATTENDEES}")
        out: list[dict[str, str | None]] = []
        for i, raw in enumerate(given):
            field = f"attendees[{i}]"
            if not raw.strip():
                raise InvalidInput(field, "must not be empty")
            found = self.contacts.resolve(raw, "email", field=field)
            person = {"email": found.handle, "contact_id": found.contact.id if found.contact else None,
                      "name": found.contact.name if found.contact else None}
            if all(p["email"] != person["email"] for p in out):
                out.append(person)
        return out

    def _conflicts(self, start: float, end: float, *, exclude: str | None = None,
                   same_as: tuple[str, datetime, datetime] | None = None) -> list[EventConflict]:
        busy = self._call(lambda: self.calendar.busy(start, end))
        events = self._call(lambda: self.calendar.list(start, end, _CONFLICT_SCAN)) if busy else []
        return overlaps(busy, events, self.timezone, exclude=exclude, same_as=same_as)

    def create(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        """The schedule_event executor's work: re-check attendees and conflicts, then insert (idempotent)."""
        provider = self.provider
        for person in arguments["attendees"]:
            if person.get("contact_id") and not self._still_reachable(person["contact_id"], person["email"]):
                return ExecutionResult(status="failed", provider=provider, error=(
                    f"the attendee {person['name']} <{person['email']}> is no longer in your contacts with that "
                    "address; nothing was scheduled, ask again"))
        event_id = event_id_for(action_id)
        start = datetime.fromisoformat(arguments["start"]).timestamp()
        end = datetime.fromisoformat(arguments["end"]).timestamp()
        conflicts: list[EventConflict] = []
        if arguments["check_conflicts"] != "ignore":
            conflicts = self._conflicts(start, end, exclude=event_id)
            if conflicts and arguments["check_conflicts"] == "refuse":
                return ExecutionResult(
                    status="failed", provider=provider, result={"conflicts": dumped(conflicts)},
                    error=f"refused: the time now overlaps {conflict_text(conflicts)}; nothing was scheduled")
        emails = tuple(p["email"] for p in arguments["attendees"])
        new = NewEvent(id=event_id, title=arguments["title"], start=start, end=end, timezone=arguments["timezone"],
                       attendees=emails, location=arguments["location"], description=arguments["description"])
        ref = self._insert(new)
        if self._record is not None:
            self._record([p.get("contact_id") or p["email"] for p in arguments["attendees"]], ref, start, new.title)
        event = to_event(EventRecord(id=ref, title=new.title, start=start, end=end, timezone=new.timezone,
                                     attendees=emails, location=new.location, description=new.description), provider)
        local = provider == "local"
        return ExecutionResult(
            status="completed" if local else "sent", provider=provider, provider_ref=ref,
            result={"event": event.model_dump(mode="json"), "conflicts": dumped(conflicts),
                    "invitations": invitations(len(emails), local, self.send_updates)},
        )

    def _insert(self, new: NewEvent) -> str:
        """The provider's reference. When an attempt got no answer, whether the insert went through anyway
        is asked by the event's id; when that cannot be asked either, the outcome is unknown."""
        try:
            return self.calendar.insert(new)
        except CalendarError as exc:
            if exc.auth:
                raise JarvisError(f"{exc}. {CONNECT_HELP}") from None
            if not exc.ambiguous:
                raise ProviderError(str(exc)) from None
            failure = exc
        try:
            found = self.calendar.get(new.id)
        except CalendarError:
            raise OutcomeUnknown(f"{failure}; whether the event was created could not be checked, so it was not "
                                 "created again", provider=self.provider) from None
        if found is None:
            raise ProviderError(str(failure))
        return found.id

    def _still_reachable(self, contact_id: str, email: str) -> bool:
        try:
            return email in self.contacts.get(contact_id).emails
        except NotFound:
            return False

    # What the user is told of an outcome (receipts.py), here for the tools that hold the service.
    schedule_receipt = staticmethod(schedule_receipt)
    cancel_receipt = staticmethod(cancel_receipt)

    # -- cancelling --------------------------------------------------------------------------------

    def _event(self, event_id: str) -> EventRecord:
        ident = event_id.strip()
        found = self._call(lambda: self.calendar.get(ident)) if 0 < len(ident) <= 1024 else None
        if found is None:
            raise NotFound("event", event_id)
        return found

    def request_cancel(self, event_id: str) -> CancelRequest:
        rec = self._event(event_id)
        event = to_event(rec, self.provider)
        summary = f"Cancel {rec.title!r} on {when(event.start, event.end)} ({rec.timezone})"
        if rec.attendees:
            summary += " and tell " + ", ".join(rec.attendees)
        return CancelRequest(kind="cancel_event", arguments={"event_id": rec.id}, summary=summary, event=event)

    def remove(self, action_id: str, arguments: dict[str, Any], *, recovering: bool = False) -> ExecutionResult:
        """The cancel_event executor's work. After a crash an event already gone was cancelled by us."""
        provider = self.provider
        rec = self._call(lambda: self.calendar.get(arguments["event_id"]))
        if rec is None:
            if recovering:
                return ExecutionResult(status="completed" if provider == "local" else "sent", provider=provider,
                                       provider_ref=arguments["event_id"])
            return ExecutionResult(status="failed", provider=provider,
                                   error="the event no longer exists (already cancelled?)")
        deleted = self._call(lambda: self.calendar.delete(rec.id, bool(rec.attendees)))
        if not deleted and not recovering:
            return ExecutionResult(status="failed", provider=provider,
                                   error="the event no longer exists (already cancelled?)")
        local = provider == "local"
        return ExecutionResult(status="completed" if local else "sent", provider=provider, provider_ref=rec.id,
                               result={"event": to_event(rec, provider).model_dump(mode="json"),
                                       "notified": invitations(len(rec.attendees), local, self.send_updates,
                                                                   "cancellation notices")})

    # -- reading -----------------------------------------------------------------------------------

    def list_events(self, start: str | None = None, end: str | None = None, limit: int = 100) -> EventList:
        _, tz = self._user_zone(None)
        begin = parse_time("start", start, tz) if start is not None else datetime.now(tz)
        finish = parse_time("end", end, tz) if end is not None else begin + timedelta(days=7)
        if finish <= begin:
            raise InvalidInput("end", "must be after start")
        if finish - begin > MAX_LIST_RANGE:
            raise InvalidInput("end", f"at most {MAX_LIST_RANGE.days} days after start")
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInput("limit", f"must be between 1 and {MAX_LIST}")
        records = self._call(lambda: self.calendar.list(begin.timestamp(), finish.timestamp(), limit + 1))
        provider = self.provider
        return EventList(start=begin, end=finish, provider=provider, truncated=len(records) > limit,
                         events=[to_event(r, provider) for r in records[:limit]])

    def export_ics(self) -> str:
        now = time.time()
        records = self._call(lambda: self.calendar.list(now - _EXPORT_PAST.total_seconds(),
                                                        now + _EXPORT_AHEAD.total_seconds(), _EXPORT_MAX))
        from jarvis_mcp.calendar.ics import (
            to_ics,  # icalendar loads on first export, not at start-up
        )

        return to_ics(records, now=now)


class ScheduleEvent:
    """The schedule_event executor."""

    def __init__(self, calendar: CalendarService) -> None:
        self.calendar = calendar

    def execute(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        return self.calendar.create(action_id, arguments)

    def reconcile(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult | None:
        # The insert is keyed by the action's event id: whether or not the crash came before the provider
        # saw it, doing it again finishes the action without a second event.
        try:
            return self.calendar.create(action_id, arguments)
        except OutcomeUnknown:
            return None  # the provider could not tell: the action's outcome stays unknown
        except JarvisError as exc:
            return ExecutionResult(status="failed", provider="-", error=str(exc))


class CancelEvent:
    """The cancel_event executor."""

    def __init__(self, calendar: CalendarService) -> None:
        self.calendar = calendar

    def execute(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        return self.calendar.remove(action_id, arguments)

    def reconcile(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult | None:
        try:
            return self.calendar.remove(action_id, arguments, recovering=True)
        except JarvisError as exc:
            return ExecutionResult(status="failed", provider="-", error=str(exc))
