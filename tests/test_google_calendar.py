"""The Google Calendar adapter against the exact HTTP requests the Calendar API v3 would receive
(HttpMockSequence), and schedule_event / cancel_event running through it."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from googleapiclient.http import HttpMockSequence

from jarvis_mcp.adapters.google_calendar import SCOPES, GoogleCalendar
from jarvis_mcp.calendar.ports import CalendarError, NewEvent
from jarvis_mcp.calendar.service import event_id_for
from jarvis_mcp.errors import JarvisError

TOKEN_URI = "https://oauth2.googleapis.com/token"
API = "https://www.googleapis.com/calendar/v3"
EVENTS = f"{API}/calendars/primary/events"
FREEBUSY = f"{API}/freeBusy"
INFO = {"refresh_token": "refresh-1", "client_id": "client-1.apps.googleusercontent.com", "client_secret": "cs-1",
        "token_uri": TOKEN_URI}
YEAR = datetime.now(UTC).year + 2
START = datetime(YEAR, 1, 15, 9, 0, tzinfo=UTC).timestamp()  # 10:00 in Madrid (January: +01:00)
EVENT_ID = "0123456789abcdef0123456789abcdef"


def token(value: str = "access-1") -> tuple[dict[str, str], str]:
    return {"status": "200"}, json.dumps({"access_token": value, "expires_in": 3600, "token_type": "Bearer"})


def reply(body: dict[str, Any] | None = None, status: int = 200) -> tuple[dict[str, str], str]:
    return {"status": str(status)}, json.dumps(body) if body is not None else ""


def error(status: int, reason: str = "", message: str = "error", headers: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    body = {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}
    return {"status": str(status), **(headers or {})}, json.dumps(body)


def g_event(eid: str = EVENT_ID, title: str = "Dentist", start: str = f"{YEAR}-01-15T10:00:00+01:00",
            end: str = f"{YEAR}-01-15T10:30:00+01:00", **extra: Any) -> dict[str, Any]:
    return {"id": eid, "status": "confirmed", "summary": title, "htmlLink": f"https://calendar.google.com/e/{eid}",
            "start": {"dateTime": start, "timeZone": "Europe/Madrid"}, "end": {"dateTime": end, "timeZone": "Europe/Madrid"},
            **extra}


def calendar(http: HttpMockSequence, sleeps: list[float] | None = None, info: dict[str, Any] | None = None,
             **kwargs: Any) -> GoogleCalendar:
    record = sleeps if sleeps is not None else []
    return GoogleCalendar.from_authorized_user_info(info or INFO, http=http, sleep=record.append, rand=lambda: 1.0,
                                                    **kwargs)


def sent(http: HttpMockSequence) -> list[tuple[str, str, dict[str, list[str]], Any, dict[str, str]]]:
    """(method, url without query, query params, JSON body or None, headers) for every request after the token."""
    out = []
    for uri, method, body, headers in http.request_sequence:
        parts = urlsplit(uri)
        url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        if url == TOKEN_URI:
            continue
        parsed = json.loads(body) if body else None
        out.append((method, url, parse_qs(parts.query), parsed, {k.lower(): v for k, v in (headers or {}).items()}))
    return out


def new_event(**kw: Any) -> NewEvent:
    base: dict[str, Any] = {"id": EVENT_ID, "title": "Dentist", "start": START, "end": START + 1800,
                            "timezone": "Europe/Madrid"}
    return NewEvent(**{**base, **kw})


# -- events.insert ----------------------------------------------------------------------------------


def test_insert_sends_the_event_and_invites_the_attendees() -> None:
    http = HttpMockSequence([token(), reply(g_event(attendees=[{"email": "ana@example.com"}]))])
    ref = calendar(http).insert(new_event(attendees=("ana@example.com", "jon@example.com"), location="Clinic",
                                          description="Bring X-rays"))
    assert ref == EVENT_ID
    [(method, url, query, body, headers)] = sent(http)
    assert (method, url, query) == ("POST", EVENTS, {"sendUpdates": ["all"], "alt": ["json"]})
    assert body == {
        "id": EVENT_ID, "summary": "Dentist",
        "start": {"dateTime": f"{YEAR}-01-15T10:00:00+01:00", "timeZone": "Europe/Madrid"},
        "end": {"dateTime": f"{YEAR}-01-15T10:30:00+01:00", "timeZone": "Europe/Madrid"},
        "attendees": [{"email": "ana@example.com"}, {"email": "jon@example.com"}],
        "location": "Clinic", "description": "Bring X-rays",
    }
    assert headers["authorization"] == "Bearer access-1" and headers["content-type"] == "application/json"
    # The stored refresh token is used as granted: no scope is asked for on refresh.
    assert "scope" not in parse_qs(http.request_sequence[0][2])


@pytest.mark.parametrize(("setting", "attendees", "expected"), [
    ("auto", (), "none"), ("auto", ("a@example.com",), "all"), ("none", ("a@example.com",), "none"),
    ("externalOnly", ("a@example.com",), "externalOnly"), ("all", (), "all"),
])
def test_send_updates_is_always_explicit(setting: str, attendees: tuple[str, ...], expected: str) -> None:
    http = HttpMockSequence([token(), reply(g_event())])
    calendar(http, send_updates=setting).insert(new_event(attendees=attendees))
    assert sent(http)[0][2]["sendUpdates"] == [expected]
    assert ("attendees" in sent(http)[0][3]) == bool(attendees)


def test_insert_of_an_id_that_exists_returns_the_first_event() -> None:
    http = HttpMockSequence([token(), error(409, "duplicate", "The requested identifier already exists."),
                             reply(g_event())])
    assert calendar(http).insert(new_event()) == EVENT_ID
    assert [(m, u) for m, u, *_ in sent(http)] == [("POST", EVENTS), ("GET", f"{EVENTS}/{EVENT_ID}")]


def test_insert_of_a_deleted_id_is_an_error() -> None:
    http = HttpMockSequence([token(), error(409, "duplicate"), reply(g_event(status="cancelled"))])
    with pytest.raises(CalendarError, match="reserved"):
        calendar(http).insert(new_event())


# -- events.list / get / delete -------------------------------------------------------------------------


def test_list_pages_through_single_events_by_start_time() -> None:
    http = HttpMockSequence([
        token(),
        reply({"timeZone": "Europe/Madrid", "nextPageToken": "p2", "items": [g_event("a" * 26, "One")]}),
        reply({"timeZone": "Europe/Madrid", "items": [
            g_event("b" * 26, "Two", attendees=[{"email": "x@example.com"}, {"displayName": "room"}], location="HQ"),
            {"id": "gone", "status": "cancelled"},
            {"id": "allday", "summary": "Holiday", "start": {"date": f"{YEAR}-01-16"}, "end": {"date": f"{YEAR}-01-17"}},
        ]}),
    ])
    found = calendar(http, page_size=2).list(START, START + 7 * 86400, 100)
    assert [e.title for e in found] == ["One", "Two", "Holiday"]
    two = found[1]
    assert two.attendees == ("x@example.com",) and two.location == "HQ" and two.link.endswith("b" * 26)
    assert two.start == START and two.timezone == "Europe/Madrid"
    holiday = found[2]
    assert holiday.start == datetime(YEAR, 1, 15, 23, 0, tzinfo=UTC).timestamp()  # midnight in Madrid
    assert holiday.end - holiday.start == 86400
    params = {"timeMin": [f"{YEAR}-01-15T09:00:00Z"], "timeMax": [f"{YEAR}-01-22T09:00:00Z"],
              "singleEvents": ["true"], "orderBy": ["startTime"], "maxResults": ["2"], "alt": ["json"]}
    requests = sent(http)
    assert requests[0][:3] == ("GET", EVENTS, params)
    assert requests[1][:3] == ("GET", EVENTS, {**params, "pageToken": ["p2"]})


def test_list_stops_at_the_limit() -> None:
    http = HttpMockSequence([token(), reply({"nextPageToken": "p2", "items": [g_event("a" * 26), g_event("b" * 26)]})])
    assert len(calendar(http).list(START, START + 3600, 2)) == 2
    assert len(sent(http)) == 1 and sent(http)[0][2]["maxResults"] == ["2"]


def test_get_reads_missing_and_cancelled_events_as_none() -> None:
    http = HttpMockSequence([token(), error(404, "notFound"), reply(g_event(status="cancelled")), error(410, "deleted"),
                             reply(g_event())])
    cal = calendar(http)
    assert cal.get("nope") is None and cal.get(EVENT_ID) is None and cal.get(EVENT_ID) is None
    assert cal.get(EVENT_ID).title == "Dentist"
    assert [(m, u) for m, u, *_ in sent(http)][0] == ("GET", f"{EVENTS}/nope")


@pytest.mark.parametrize(("notify", "expected"), [(True, "all"), (False, "none")])
def test_delete_tells_the_attendees_explicitly(notify: bool, expected: str) -> None:
    http = HttpMockSequence([token(), reply(None, 204), error(410, "deleted")])
    cal = calendar(http)
    assert cal.delete(EVENT_ID, notify) is True
    assert cal.delete(EVENT_ID, notify) is False  # already gone
    method, url, query, body, _ = sent(http)[0]
    assert (method, url, query, body) == ("DELETE", f"{EVENTS}/{EVENT_ID}", {"sendUpdates": [expected]}, None)


# -- freebusy.query -------------------------------------------------------------------------------


def test_busy_asks_freebusy_for_the_calendar() -> None:
    http = HttpMockSequence([token(), reply({"calendars": {"primary": {"busy": [
        {"start": f"{YEAR}-01-15T09:00:00Z", "end": f"{YEAR}-01-15T10:00:00Z"}]}}})])
    assert calendar(http).busy(START, START + 3600) == [(START, START + 3600)]
    [(method, url, query, body, _)] = sent(http)
    assert (method, url, query) == ("POST", FREEBUSY, {"alt": ["json"]})
    assert body == {"timeMin": f"{YEAR}-01-15T09:00:00Z", "timeMax": f"{YEAR}-01-15T10:00:00Z", "items": [{"id": "primary"}]}


def test_busy_reports_freebusy_errors() -> None:
    http = HttpMockSequence([token(), reply({"calendars": {"work": {"errors": [{"domain": "global", "reason": "notFound"}]}}})])
    with pytest.raises(CalendarError, match="free/busy.*notFound"):
        calendar(http, calendar_id="work").busy(START, START + 3600)


def test_without_a_freebusy_scope_busy_time_comes_from_the_events() -> None:
    info = {**INFO, "scopes": ["https://www.googleapis.com/auth/calendar.events"]}
    http = HttpMockSequence([token(), reply({"items": [g_event()]})])
    assert calendar(http, info=info).busy(START, START + 3600) == [(START, START + 1800)]
    assert sent(http)[0][:2] == ("GET", EVENTS)


def test_credentials_without_calendar_access_are_refused_before_any_request() -> None:
    http = HttpMockSequence([])
    with pytest.raises(CalendarError, match="do not allow Calendar access") as raised:
        calendar(http, info={**INFO, "scopes": ["https://www.googleapis.com/auth/contacts.readonly"]})
    assert raised.value.auth and http.request_sequence == []
    calendar(HttpMockSequence([]), info={**INFO, "scopes": " ".join(SCOPES)})  # a space-separated string works too


# -- failures -------------------------------------------------------------------------------------


def test_429_and_5xx_are_retried_with_capped_backoff_and_jitter() -> None:
    sleeps: list[float] = []
    http = HttpMockSequence([token(), error(503, "backendError"), error(429, "rateLimitExceeded", headers={"retry-after": "3"}),
                             error(403, "userRateLimitExceeded"), reply(g_event())])
    assert calendar(http, sleeps).insert(new_event()) == EVENT_ID
    assert sleeps == [0.5, 3.0, 2.0]  # rand=1.0: the cap of each step; Retry-After raises the wait
    assert len({json.dumps(r[3]) for r in sent(http)}) == 1  # the same request each time


def test_retries_give_up_within_the_attempts_and_the_time_budget() -> None:
    sleeps: list[float] = []
    http = HttpMockSequence([token(), *[error(500, "backendError")] * 5])
    with pytest.raises(CalendarError, match="gave up after 5 attempts"):
        calendar(http, sleeps).list(START, START + 60, 10)
    assert sleeps == [0.5, 1.0, 2.0, 4.0]
    sleeps.clear()
    http = HttpMockSequence([token(), *[error(502, "badGateway")] * 5])
    with pytest.raises(CalendarError, match="gave up after 3 attempts"):
        calendar(http, sleeps, budget_s=2.0).list(START, START + 60, 10)
    assert sum(sleeps) <= 2.0


def test_a_4xx_is_reported_with_googles_message_and_not_retried() -> None:
    http = HttpMockSequence([token(), error(400, "timeRangeEmpty", "The specified time range is empty.")])
    with pytest.raises(CalendarError, match="400: The specified time range is empty.") as raised:
        calendar(http).busy(START, START)
    assert not raised.value.auth and len(sent(http)) == 1


@pytest.mark.parametrize("refused", [error(403, "insufficientPermissions", "Insufficient Permission"),
                                     error(401, "authError", "Invalid Credentials")])
def test_missing_permission_is_an_auth_error(refused: tuple[dict[str, str], str]) -> None:
    # A 401 is refreshed by AuthorizedHttp (twice), then reported; a 403 is reported at once.
    http = HttpMockSequence([token(), refused, token("again"), refused, token("again"), refused])
    with pytest.raises(CalendarError) as raised:
        calendar(http).list(START, START + 60, 10)
    assert raised.value.auth


def test_a_refused_refresh_token_is_an_auth_error() -> None:
    http = HttpMockSequence([({"status": "400"}, json.dumps({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}))])
    with pytest.raises(CalendarError, match="refused the stored credentials") as raised:
        calendar(http).list(START, START + 60, 10)
    assert raised.value.auth


# -- the calendar service over Google ------------------------------------------------------------


def google_scope(runtime, http: HttpMockSequence):  # noqa: ANN001, ANN201
    rt = runtime("alice")
    scope = rt.scope_for(rt.local_user_id())
    cal = GoogleCalendar.from_authorized_user_info(INFO, http=http, sleep=lambda s: None)
    return dataclasses.replace(scope, calendars=lambda user_id, credentials: cal)


def test_schedule_checks_freebusy_before_inserting(runtime) -> None:
    busy = {"calendars": {"primary": {"busy": [{"start": f"{YEAR}-01-15T09:15:00Z", "end": f"{YEAR}-01-15T09:45:00Z"},
                                               {"start": f"{YEAR}-01-15T09:50:00Z", "end": f"{YEAR}-01-15T10:00:00Z"}]}}}
    standup = g_event("c" * 26, "Standup", f"{YEAR}-01-15T10:15:00+01:00", f"{YEAR}-01-15T10:45:00+01:00")
    http = HttpMockSequence([token(), reply(busy), reply({"items": [standup]}),  # when requested
                             reply(busy), reply({"items": [standup]}),  # re-checked when it runs
                             reply(g_event())])
    scope = google_scope(runtime, http)
    request = scope.calendar.request_schedule("Dentist", f"{YEAR}-01-15T10:00", duration_minutes=60,
                                              timezone="Europe/Madrid", attendees=["ana@example.com"])
    receipt = scope.calendar.schedule_receipt(scope.actions.submit(request), request.conflicts)
    assert receipt.action.status == "sent" and receipt.action.delivered is True and receipt.action.provider == "google"
    assert [(c.title, c.event_id) for c in receipt.conflicts] == [("Standup", "c" * 26), (None, None)]
    assert "Created in Google Calendar; Google emails invitations to the 1 attendee(s)" in receipt.message
    requests = sent(http)
    assert [(m, u) for m, u, *_ in requests] == [("POST", FREEBUSY), ("GET", EVENTS), ("POST", FREEBUSY),
                                                  ("GET", EVENTS), ("POST", EVENTS)]
    assert requests[0][3]["timeMin"] == f"{YEAR}-01-15T09:00:00Z" and requests[0][3]["timeMax"] == f"{YEAR}-01-15T10:00:00Z"
    insert = requests[-1]
    assert insert[2]["sendUpdates"] == ["all"] and insert[3]["id"] == event_id_for(receipt.action.action_id)
    assert insert[3]["attendees"] == [{"email": "ana@example.com"}]


def test_refused_conflicts_never_reach_events_insert(runtime) -> None:
    http = HttpMockSequence([token(), reply({"calendars": {"primary": {"busy": [
        {"start": f"{YEAR}-01-15T09:00:00Z", "end": f"{YEAR}-01-15T10:00:00Z"}]}}}), reply({"items": []})])
    scope = google_scope(runtime, http)
    with pytest.raises(JarvisError, match="overlaps 1 other event.*busy"):
        scope.calendar.request_schedule("Dentist", f"{YEAR}-01-15T10:00", duration_minutes=30,
                                        timezone="Europe/Madrid", check_conflicts="refuse")
    assert all(u != EVENTS or m != "POST" for m, u, *_ in sent(http))
    assert scope.actions.list() == []


def test_cancel_deletes_and_notifies_the_attendees(runtime) -> None:
    event = g_event(attendees=[{"email": "ana@example.com"}])
    http = HttpMockSequence([token(), reply(event), reply(event), reply(None, 204)])
    scope = google_scope(runtime, http)
    request = scope.calendar.request_cancel(EVENT_ID)
    assert request.summary.endswith("and tell ana@example.com")
    receipt = scope.calendar.cancel_receipt(scope.actions.submit(request), request.event)
    assert receipt.action.status == "sent" and "cancellation notices to the 1 attendee(s)" in receipt.message
    requests = sent(http)
    assert [(m, u) for m, u, *_ in requests] == [("GET", f"{EVENTS}/{EVENT_ID}")] * 2 + [("DELETE", f"{EVENTS}/{EVENT_ID}")]
    assert requests[-1][2]["sendUpdates"] == ["all"]


def test_a_google_outage_fails_the_action_with_the_reason(runtime) -> None:
    http = HttpMockSequence([token(), *[error(503, "backendError")] * 5])
    scope = google_scope(runtime, http)
    request = scope.calendar.request_schedule("Dentist", f"{YEAR}-01-15T10:00", duration_minutes=30,
                                              check_conflicts="ignore")
    outcome = scope.actions.submit(request)
    assert outcome.status == "failed" and outcome.delivered is False
    assert "Google Calendar is unavailable: gave up after 5 attempts" in outcome.error
