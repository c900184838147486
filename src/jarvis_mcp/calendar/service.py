"""The calendar for one user: schedule and cancel events (actions, through the outbox), list, export.

request_schedule / request_cancel validate everything and resolve attendees before anything is
written; the executors carry the request out once (ActionService) and re-check its target when they
run. An event's id is derived from the action's id, so a retried or recovered insert finds the event
the first attempt made instead of creating a second one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from jarvis_mcp.account.credentials import CredentialService, Vault
from jarvis_mcp.actions.models import ActionOutcome
from jarvis_mcp.actions.service import ActionRequest, ExecutionResult, OutcomeUnknown, ProviderError
from jarvis_mcp.calendar.models import CalendarEvent, EventCancelled, EventConflict, EventList, EventReceipt
from jarvis_mcp.calendar.ports import Calendar, CalendarError, EventRecord, NewEvent
from jarvis_mcp.contacts.rules import normalize_email
from jarvis_mcp.contacts.service import ContactService
from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.text import clean_text, fold, valid_zone, zone

if TYPE_CHECKING:
    from jarvis_mcp.scope import UserScope

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


def _when(start: datetime, end: datetime) -> str:
    same_day = start.date() == end.date()
    return f"{start:%a %Y-%m-%d %H:%M}-{end:%H:%M}" if same_day else f"{start:%a %Y-%m-%d %H:%M} to {end:%a %Y-%m-%d %H:%M}"


def _conflict_text(conflicts: Sequence[EventConflict]) -> str:
    return "; ".join(f"{c.title!r} {_when(c.start, c.end)}" if c.title else f"busy {_when(c.start, c.end)}"
                     for c in conflicts)


@dataclass(frozen=True)
class ScheduleRequest(ActionRequest):
    conflicts: tuple[EventConflict, ...] = ()  # found when it was requested (the executor looks again)


@dataclass(frozen=True)
class CancelRequest(ActionRequest):
    event: CalendarEvent | None = None


class CalendarService:
    def __init__(self, user_id: str, calendars: CalendarFactory | None, credentials: CredentialService,
                 contacts: ContactService, *, timezone: str | None, send_updates: str = "auto") -> None:
        self.user_id = user_id
        self._calendars = calendars
        self.credentials = credentials
        self.contacts = contacts
        self.timezone = timezone
        self.send_updates = send_updates

    @classmethod
    def for_scope(cls, scope: UserScope) -> CalendarService:
        user = scope.store.get_user(scope.user_id)
        settings = scope.settings
        credentials = CredentialService(scope.user_id, scope.store, lambda: Vault.for_settings(settings))  # type: ignore[arg-type]
        return cls(scope.user_id, scope.calendars, credentials, scope.contacts, timezone=user.timezone if user else None,
                   send_updates=settings.calendar_send_updates)

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
                                            f"{_conflict_text(conflicts)}. Nothing was scheduled; pick another time, "
                                            "or pass check_conflicts='warn' to schedule anyway")
        summary = f"Schedule {title!r} on {_when(begin, finish)} ({tz_name})"
        if people:
            summary += " with " + ", ".join(p["email"] for p in people)
        if conflicts:
            summary += f"; it overlaps {_conflict_text(conflicts)}"
        arguments = {
            "title": title, "start": begin.isoformat(), "end": finish.isoformat(), "timezone": tz_name,
            "attendees": people, "location": location, "description": description,
            "check_conflicts": check_conflicts,
        }
        return ScheduleRequest(kind="schedule_event", arguments=arguments, summary=summary,
                               idempotency_key=idempotency_key, conflicts=tuple(conflicts))

    def _attendees(self, given: list[str] | None) -> list[dict[str, str | None]]:
        if not given:
            return []
        if len(given) > MAX_ATTENDEES:
            raise InvalidInput("attendees", f"at most {MAX_ATTENDEES}")
        out: list[dict[str, str | None]] = []
        for i, raw in enumerate(given):
            field = f"attendees[{i}]"
            text = raw.strip()
            if not text:
                raise InvalidInput(field, "must not be empty")
            if "@" in text:
                try:
                    person = {"email": normalize_email(text), "contact_id": None, "name": None}
                except ValueError:
                    raise InvalidInput(field, f"{raw!r} is not an email address") from None
            else:
                person = self._contact_named(field, text)
            if all(p["email"] != person["email"] for p in out):
                out.append(person)
        return out

    def _contact_named(self, field: str, name: str) -> dict[str, str | None]:
        """A contact by name: an exact (folded) name, else the only contact whose name matches."""
        clean_text(field, name, 200)
        found: Sequence[Any] = self.contacts.store.contacts_by_name(self.user_id, [fold(name)])
        if not found:
            found = [h for h in self.contacts.search(name, limit=10).hits if "name" in h.matched]
        if not found:
            raise InvalidInput(field, f"no contact is named {name!r}; give an email address, or save the contact first")
        if len(found) > 1:
            listed = "; ".join(f"{c.name} <{c.emails[0] if c.emails else 'no email'}> (id {c.id})" for c in found)
            raise InvalidInput(field, f"{name!r} matches {len(found)} contacts: {listed}. Give the email address "
                                      "of the one you mean")
        person = found[0]
        if not person.emails:
            raise InvalidInput(field, f"the contact {person.name!r} has no email address; give one")
        return {"email": person.emails[0], "contact_id": person.id, "name": person.name}

    def _conflicts(self, start: float, end: float, *, exclude: str | None = None,
                   same_as: tuple[str, datetime, datetime] | None = None) -> list[EventConflict]:
        """What overlaps [start, end): named events, plus busy time no listed event explains (other calendars).

        `exclude` is the event the action itself made; `same_as` an identical event (same title and times),
        which is this very request made again, not a conflict with it."""
        busy = self._call(lambda: self.calendar.busy(start, end))
        if not busy:
            return []
        events = self._call(lambda: self.calendar.list(start, end, _CONFLICT_SCAN))
        out: list[EventConflict] = []
        for e in events:
            identical = same_as is not None and (fold(e.title), e.start, e.end) == (
                fold(same_as[0]), same_as[1].timestamp(), same_as[2].timestamp())
            if e.id == exclude or identical:
                continue
            tz = zone(e.timezone)
            out.append(EventConflict(start=datetime.fromtimestamp(e.start, tz), end=datetime.fromtimestamp(e.end, tz),
                                     event_id=e.id, title=e.title))
        tz = zone(self.timezone)
        for b_start, b_end in busy:
            if not any(e.start < b_end and e.end > b_start for e in events):
                out.append(EventConflict(start=datetime.fromtimestamp(b_start, tz), end=datetime.fromtimestamp(b_end, tz)))
        return out

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
                    status="failed", provider=provider, result={"conflicts": _dump(conflicts)},
                    error=f"refused: the time now overlaps {_conflict_text(conflicts)}; nothing was scheduled")
        emails = tuple(p["email"] for p in arguments["attendees"])
        new = NewEvent(id=event_id, title=arguments["title"], start=start, end=end, timezone=arguments["timezone"],
                       attendees=emails, location=arguments["location"], description=arguments["description"])
        ref = self._insert(new)
        event = to_event(EventRecord(id=ref, title=new.title, start=start, end=end, timezone=new.timezone,
                                     attendees=emails, location=new.location, description=new.description), provider)
        local = provider == "local"
        return ExecutionResult(
            status="completed" if local else "sent", provider=provider, provider_ref=ref,
            result={"event": event.model_dump(mode="json"), "conflicts": _dump(conflicts),
                    "invitations": self._invitations(len(emails), local)},
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

    def _invitations(self, attendees: int, local: bool, what: str = "invitations") -> str:
        """What the attendees were told, as the provider was asked (sendUpdates)."""
        if not attendees:
            return f"no attendees, so no {what}"
        if local:
            return f"no {what} were sent: the local calendar keeps events on this server only"
        if self.send_updates == "none":
            return f"Google was asked not to email {what} to the {attendees} attendee(s)"
        if self.send_updates == "externalOnly":
            return f"Google emails {what} to attendees outside the user's organisation only"
        return f"Google emails {what} to the {attendees} attendee(s)"

    def schedule_receipt(self, outcome: ActionOutcome, conflicts: Sequence[EventConflict] = ()) -> EventReceipt:
        result = outcome.result or {}
        event = CalendarEvent.model_validate(result["event"]) if result.get("event") else None
        if "conflicts" in result:
            conflicts = [EventConflict.model_validate(c) for c in result["conflicts"]]
        if outcome.status == "pending_confirmation":
            message = "Nothing is scheduled yet: it waits for the user's confirmation (see action.how_to_confirm)."
        elif event is not None:
            where = ("Added to the local calendar (jarvis://me/calendar.ics); nothing left this server"
                     if event.provider == "local" else "Created in Google Calendar")
            message = f"{where}; {result.get('invitations', '')}."
        elif outcome.status in ("failed", "cancelled", "expired"):
            message = f"Not scheduled: {outcome.error or 'the action was ' + outcome.status}."
        elif outcome.status == "unknown":
            message = f"Not known whether the event was created: {outcome.error}. {outcome.how_to_confirm}"
        else:
            message = f"The action is {outcome.status}."
        if conflicts and outcome.status != "failed":
            message += f" Overlaps: {_conflict_text(conflicts)}."
        if outcome.replayed:
            message = "This repeats an earlier identical request; nothing new was done. " + message
        return EventReceipt(action=outcome, event=event, conflicts=list(conflicts), message=message)

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
        summary = f"Cancel {rec.title!r} on {_when(event.start, event.end)} ({rec.timezone})"
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
                                       "notified": self._invitations(len(rec.attendees), local, "cancellation notices")})

    def cancel_receipt(self, outcome: ActionOutcome, event: CalendarEvent | None) -> EventCancelled:
        result = outcome.result or {}
        if result.get("event"):
            event = CalendarEvent.model_validate(result["event"])
        if outcome.status == "pending_confirmation":
            message = "Nothing is cancelled yet: it waits for the user's confirmation (see action.how_to_confirm)."
        elif outcome.status in ("completed", "sent"):
            message = f"Cancelled; {result.get('notified', '')}."
        elif outcome.status == "unknown":
            message = f"Not known whether the event was cancelled: {outcome.error}. {outcome.how_to_confirm}"
        else:
            message = f"Not cancelled: {outcome.error or 'the action was ' + outcome.status}."
        if outcome.replayed:
            message = "This repeats an earlier identical request; nothing new was done. " + message
        assert event is not None  # a cancel is requested only for an event that was found
        return EventCancelled(action=outcome, event=event, message=message)

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


def _dump(conflicts: Sequence[EventConflict]) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json") for c in conflicts]


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
