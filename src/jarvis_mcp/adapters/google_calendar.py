"""Google Calendar through the Calendar API v3 (google-api-python-client): the Calendar port, one user.

events.insert with our own event id (derived from the outbox action), so a retried insert answers 409
and finds the first event instead of creating a second; events.list with singleEvents and
orderBy=startTime between timeMin and timeMax, paged; events.delete; freebusy.query for conflicts (it
also sees the user's other calendars). sendUpdates is always sent explicitly: "auto" means "all" when
the event has attendees, else "none". 429, 5xx, rate-limit 403s and transport errors are retried with
capped exponential backoff and full jitter, within a bounded number of attempts and seconds.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from jarvis_mcp.calendar.ports import CalendarError, EventRecord, NewEvent

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/calendar.freebusy"]
_FULL = "https://www.googleapis.com/auth/calendar"
_EVENT_SCOPES = {_FULL, "https://www.googleapis.com/auth/calendar.events"}
_FREEBUSY_SCOPES = {_FULL, "https://www.googleapis.com/auth/calendar.freebusy",
                    "https://www.googleapis.com/auth/calendar.readonly",
                    "https://www.googleapis.com/auth/calendar.events.freebusy"}
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: Refusals: Google did nothing. Other retried failures may follow a write that went through.
_REFUSED = frozenset({429, 503})
_RATE_REASONS = ("rateLimitExceeded", "userRateLimitExceeded")
_SCOPE_HELP = ("the stored Google credentials do not allow Calendar access; connect Google again granting "
               "calendar access")


def rfc3339(epoch: float, tz: str | None = None) -> str:
    """UTC with 'Z' (query bounds), or the local time with its offset in `tz` (event times)."""
    if tz is None:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).isoformat(timespec="seconds")


def _epoch(when: dict[str, Any], fallback_tz: str) -> float:
    if "dateTime" in when:
        return datetime.fromisoformat(when["dateTime"]).timestamp()
    # An all-day event: the day starts at midnight in the event's (else the calendar's) zone.
    day = datetime.fromisoformat(when["date"])
    return day.replace(tzinfo=ZoneInfo(when.get("timeZone") or fallback_tz)).timestamp()


def to_record(item: dict[str, Any], fallback_tz: str = "UTC") -> EventRecord:
    start, end = item.get("start", {}), item.get("end", {})
    tz = start.get("timeZone") or fallback_tz
    return EventRecord(
        id=item["id"], title=item.get("summary") or "(no title)", start=_epoch(start, tz), end=_epoch(end, tz),
        timezone=tz, attendees=tuple(a["email"] for a in item.get("attendees", ()) if a.get("email")),
        location=item.get("location"), description=item.get("description"), link=item.get("htmlLink"),
        created_at=datetime.fromisoformat(item["created"]).timestamp() if item.get("created") else None,
    )


class GoogleCalendar:
    provider = "google"

    def __init__(self, credentials: Credentials, *, calendar_id: str = "primary", send_updates: str = "auto",
                 http: Any = None, page_size: int = 250, max_attempts: int = 5, base_delay: float = 0.5,
                 max_delay: float = 8.0, budget_s: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random, freebusy: bool = True) -> None:
        authed = AuthorizedHttp(credentials, http=http or httplib2.Http(timeout=20))
        self.service = build("calendar", "v3", http=authed, static_discovery=True, cache_discovery=False)
        self.calendar_id = calendar_id
        self.send_updates = send_updates
        self.page_size = page_size
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        # Well below the outbox's stale threshold: an action is never left 'sending' by slow retries.
        self.budget_s = budget_s
        self.sleep = sleep
        self.rand = rand
        # Without a free/busy scope, busy time is read from the events themselves (this calendar only).
        self.freebusy = freebusy

    @classmethod
    def from_authorized_user_info(cls, info: dict[str, object], **kwargs: Any) -> GoogleCalendar:
        """The scopes granted at consent are kept (a refresh asking for more would be refused)."""
        granted = info.get("scopes")
        if isinstance(granted, str):
            granted = granted.split()
        if isinstance(granted, list):
            if not _EVENT_SCOPES & set(granted):
                raise CalendarError(_SCOPE_HELP, auth=True)
            kwargs.setdefault("freebusy", bool(_FREEBUSY_SCOPES & set(granted)))
        return cls(Credentials.from_authorized_user_info(info), **kwargs)

    def _updates(self, has_attendees: bool) -> str:
        if self.send_updates == "auto":
            return "all" if has_attendees else "none"
        return self.send_updates

    # -- the port --------------------------------------------------------------------------------

    def insert(self, event: NewEvent) -> str:
        body: dict[str, Any] = {
            "id": event.id,
            "summary": event.title,
            "start": {"dateTime": rfc3339(event.start, event.timezone), "timeZone": event.timezone},
            "end": {"dateTime": rfc3339(event.end, event.timezone), "timeZone": event.timezone},
        }
        if event.attendees:
            body["attendees"] = [{"email": a} for a in event.attendees]
        if event.location:
            body["location"] = event.location
        if event.description:
            body["description"] = event.description
        request = self.service.events().insert(calendarId=self.calendar_id, body=body,
                                               sendUpdates=self._updates(bool(event.attendees)))
        try:
            return str(self._execute(request, conflict_ok=True)["id"])
        except _Conflict:
            # Our id is taken: an earlier attempt of this same action created it (or the event was deleted,
            # and Google keeps deleted ids reserved).
            existing = self.get(event.id)
            if existing is None:
                raise CalendarError("Google keeps this event id reserved (the event was deleted); ask again") from None
            return existing.id

    def get(self, ref: str) -> EventRecord | None:
        try:
            item = self._execute(self.service.events().get(calendarId=self.calendar_id, eventId=ref), missing_ok=True)
        except _Missing:
            return None
        if item.get("status") == "cancelled":
            return None
        return to_record(item)

    def list(self, start: float, end: float, limit: int) -> list[EventRecord]:
        out: list[EventRecord] = []
        page_token: str | None = None
        while len(out) < limit:
            params: dict[str, Any] = {
                "calendarId": self.calendar_id, "timeMin": rfc3339(start), "timeMax": rfc3339(end),
                "singleEvents": True, "orderBy": "startTime", "maxResults": min(self.page_size, limit - len(out)),
            }
            if page_token:
                params["pageToken"] = page_token
            resp = self._execute(self.service.events().list(**params))
            fallback = resp.get("timeZone") or "UTC"
            out.extend(to_record(i, fallback) for i in resp.get("items", ()) if i.get("status") != "cancelled")
            page_token = resp.get("nextPageToken")
            if not page_token:
                break
        return out[:limit]

    def delete(self, ref: str, notify: bool) -> bool:
        request = self.service.events().delete(calendarId=self.calendar_id, eventId=ref,
                                               sendUpdates=self._updates(notify))
        try:
            self._execute(request, missing_ok=True)
        except _Missing:
            return False
        return True

    def busy(self, start: float, end: float) -> list[tuple[float, float]]:
        if not self.freebusy:
            return [(e.start, e.end) for e in self.list(start, end, 250)]
        body = {"timeMin": rfc3339(start), "timeMax": rfc3339(end), "items": [{"id": self.calendar_id}]}
        resp = self._execute(self.service.freebusy().query(body=body))
        calendar = resp.get("calendars", {}).get(self.calendar_id, {})
        if calendar.get("errors"):
            reasons = ", ".join(e.get("reason", "unknown") for e in calendar["errors"])
            raise CalendarError(f"Google could not read the calendar's free/busy time ({reasons})")
        return [(datetime.fromisoformat(b["start"]).timestamp(), datetime.fromisoformat(b["end"]).timestamp())
                for b in calendar.get("busy", ())]

    # -- transport -------------------------------------------------------------------------------

    def _execute(self, request: Any, *, missing_ok: bool = False, conflict_ok: bool = False) -> dict[str, Any]:
        slept = 0.0
        unanswered = False
        for attempt in range(self.max_attempts):
            retry_after: float | None = None
            try:
                return request.execute(num_retries=0) or {}
            except HttpError as exc:
                status = exc.resp.status
                reason = _error_reason(exc)
                if missing_ok and status in (404, 410):
                    raise _Missing from None
                if conflict_ok and status == 409:
                    raise _Conflict from None
                if status == 401 or (status == 403 and reason in ("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT")):
                    raise CalendarError(f"Google answered {status}: {_SCOPE_HELP}", auth=True) from None
                if status not in _RETRY_STATUS and not (status == 403 and reason in _RATE_REASONS):
                    raise CalendarError(f"Google Calendar answered {status}: {exc.reason}") from None
                problem = f"HTTP {status}"
                unanswered = unanswered or (status not in _REFUSED and status != 403)
                header = exc.resp.get("retry-after")
                if header and header.isdigit():
                    retry_after = float(header)
            except RefreshError as exc:
                detail = exc.args[0] if exc.args else "refresh failed"
                raise CalendarError(f"Google refused the stored credentials ({detail})", auth=True) from None
            except (httplib2.HttpLib2Error, TransportError, OSError) as exc:
                problem = type(exc).__name__
                unanswered = True
            # Full jitter: many clients retrying at once spread out instead of hammering in lockstep.
            delay = self.rand() * min(self.max_delay, self.base_delay * 2**attempt)
            if retry_after is not None:
                delay = max(delay, min(retry_after, self.max_delay))
            if attempt + 1 == self.max_attempts or slept + delay > self.budget_s:
                raise CalendarError(f"Google Calendar is unavailable: gave up after {attempt + 1} attempts "
                                    f"(last: {problem})", ambiguous=unanswered)
            log.info("Google Calendar %s; retry %d in %.1f s", problem, attempt + 1, delay)
            self.sleep(delay)
            slept += delay
        raise AssertionError("unreachable")


class _Missing(Exception):
    pass


class _Conflict(Exception):
    pass


def _error_reason(exc: HttpError) -> str:
    """The machine-readable reason of a Google error body (errors[].reason, or details' ErrorInfo)."""
    try:
        error = json.loads(exc.content or b"{}").get("error", {})
    except (ValueError, AttributeError):
        return ""
    for item in error.get("errors", ()):
        if item.get("reason"):
            return str(item["reason"])
    for item in error.get("details", ()):
        if item.get("reason"):
            return str(item["reason"])
    return ""
