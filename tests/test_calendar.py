"""The calendar toolset on the local calendar: schedule_event, list_events, cancel_event, calendar.ics.

Through the MCP client (as a model would call them) and, for recovery after a crash, the services.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from icalendar import Calendar as ICalendar
from mcp import Client
from mcp.types import CallToolResult

from jarvis_mcp import bootstrap
from jarvis_mcp.actions.ports import NewOutbox
from jarvis_mcp.actions.service import args_hash
from jarvis_mcp.calendar.service import event_id_for
from jarvis_mcp.errors import JarvisError

YEAR = datetime.now(UTC).year + 2  # always in the future, always January: fixed UTC offsets below
DAY = f"{YEAR}-01-15"
MADE_UP = "0" * 32


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def err(result: CallToolResult) -> str:
    """The tool error's message, without the SDK's 'Error executing tool X: ' prefix."""
    assert result.is_error, result.structured_content
    text = result.content[0].text
    return text.split(": ", 1)[1] if text.startswith("Error executing tool") else text


async def schedule(c: Client, **args: Any) -> dict[str, Any]:
    return ok(await c.call_tool("schedule_event", {"title": "Dentist", "start": f"{DAY}T10:00",
                                                   "duration_minutes": 30, "timezone": "Europe/Madrid", **args}))


async def events(c: Client, **args: Any) -> list[dict[str, Any]]:
    return ok(await c.call_tool("list_events", {"start": f"{YEAR}-01-01", "end": f"{YEAR}-02-01", **args}))["events"]


async def nothing_written(c: Client) -> None:
    assert await events(c) == []
    assert ok(await c.call_tool("list_actions", {}))["actions"] == []


# -- happy path -----------------------------------------------------------------------------------


async def test_schedule_list_export_and_cancel(client_for) -> None:
    async with client_for("alice") as c:
        out = await schedule(c, location="Calle Mayor 1", description="Bring the X-rays",
                             attendees=["Dr.Ruiz@Clinic.example"])
        event = out["event"]
        assert out["action"]["status"] == "completed" and out["action"]["kind"] == "schedule_event"
        assert out["action"]["delivered"] is False and out["action"]["provider"] == "local"
        assert out["action"]["confirmation_required"] is False
        assert event["start"] == f"{DAY}T10:00:00+01:00" and event["end"] == f"{DAY}T10:30:00+01:00"
        assert event["timezone"] == "Europe/Madrid" and event["attendees"] == ["dr.ruiz@clinic.example"]
        assert event["location"] == "Calle Mayor 1" and event["provider"] == "local"
        assert event["id"] == out["action"]["provider_ref"] == event_id_for(out["action"]["action_id"])
        assert "local calendar" in out["message"] and "no invitations were sent" in out["message"]
        assert out["conflicts"] == []

        listed = await events(c)
        assert [e["id"] for e in listed] == [event["id"]] and listed[0] == event

        ics = (await c.read_resource("jarvis://me/calendar.ics")).contents[0]
        assert ics.mime_type == "text/calendar"
        parsed = ICalendar.from_ical(ics.text)
        (vevent,) = parsed.walk("VEVENT")
        assert str(vevent["SUMMARY"]) == "Dentist" and str(vevent["LOCATION"]) == "Calle Mayor 1"
        assert str(vevent["UID"]) == f"{event['id']}@jarvis-mcp"
        assert vevent.decoded("DTSTART") == datetime.fromisoformat(event["start"])
        assert vevent.decoded("DTEND") == datetime.fromisoformat(event["end"])
        assert str(vevent["DTSTART"].params["TZID"]) == "Europe/Madrid"
        assert [str(a) for a in [vevent["ATTENDEE"]]] == ["mailto:dr.ruiz@clinic.example"]
        assert [tz["TZID"] for tz in parsed.walk("VTIMEZONE")] == ["Europe/Madrid"]

        cancelled = ok(await c.call_tool("cancel_event", {"event_id": event["id"]}))
        assert cancelled["action"]["status"] == "completed" and cancelled["action"]["kind"] == "cancel_event"
        assert cancelled["event"]["id"] == event["id"] and cancelled["message"].startswith("Cancelled")
        assert await events(c) == []
        assert "VEVENT" not in (await c.read_resource("jarvis://me/calendar.ics")).contents[0].text
        again = await c.call_tool("cancel_event", {"event_id": event["id"]})
        assert err(again) == f"event not found: {event['id']}"


async def test_times_are_read_in_the_given_zone_else_the_profile_zone(client_for) -> None:
    async with client_for("alice") as c:
        utc = await schedule(c, title="No zone anywhere", timezone=None)
        assert utc["event"]["start"] == f"{DAY}T10:00:00Z" and utc["event"]["timezone"] == "UTC"
        ok(await c.call_tool("set_profile", {"timezone": "America/New_York"}))
    async with client_for("alice") as c:  # a new session reads the profile again
        profile = await schedule(c, title="Profile zone", timezone=None)
        assert profile["event"]["start"] == f"{DAY}T10:00:00-05:00" and profile["event"]["timezone"] == "America/New_York"
        given = await schedule(c, title="Given zone", timezone="Asia/Tokyo")
        assert given["event"]["start"] == f"{DAY}T10:00:00+09:00"
        # A time with its own offset keeps its instant; the zone is how it is shown.
        aware = await schedule(c, title="Aware", start=f"{DAY}T18:00:00Z", end=f"{DAY}T19:15:00Z",
                               duration_minutes=None)
        assert aware["event"]["start"] == f"{DAY}T19:00:00+01:00" and aware["event"]["end"] == f"{DAY}T20:15:00+01:00"
        listed = await events(c)
        assert [e["title"] for e in listed] == ["Given zone", "No zone anywhere", "Profile zone", "Aware"]


async def test_attendees_by_contact_name(client_for) -> None:
    async with client_for("alice") as c:
        ok(await c.call_tool("save_contact", {"name": "María Pérez", "emails": ["maria@example.com"]}))
        ok(await c.call_tool("save_contact", {"name": "Jon Smith", "emails": ["jon@acme.example", "j@home.example"]}))
        out = await schedule(c, attendees=["maria perez", "Jon", "maria@example.com", "x@y.example"])
        # Names resolve to the contact's first email; the same person given twice is invited once.
        assert out["event"]["attendees"] == ["maria@example.com", "jon@acme.example", "x@y.example"]
        assert "with maria@example.com, jon@acme.example, x@y.example" in out["action"]["summary"]


# -- bad input: a clear error naming the field, and nothing written --------------------------------


@pytest.mark.parametrize(("args", "message"), [
    ({"end": f"{DAY}T09:00", "duration_minutes": None}, "end: must be after start"),
    ({"end": f"{DAY}T10:00", "duration_minutes": None}, "end: must be after start"),
    ({"timezone": "Mars/Olympus"}, "timezone: must be an IANA time zone such as Europe/Madrid"),
    ({"timezone": "../../etc/passwd"}, "timezone: must be an IANA time zone such as Europe/Madrid"),
    ({"start": "next tuesday at 3"}, "start: 'next tuesday at 3' is not an ISO 8601 date-time"),
    ({"start": f"{DAY}T25:00"}, "start: "),
    ({"end": f"{DAY}T11:00"}, "duration_minutes: give end or duration_minutes, not both"),
    ({"duration_minutes": None}, "end: give end or duration_minutes"),
    ({"duration_minutes": 0}, "duration_minutes: must be between 1 and 20160"),
    ({"end": f"{YEAR}-02-15T10:00", "duration_minutes": None}, "end: an event may last at most 14 days"),
    ({"start": "2001-01-01T10:00"}, "start: '2001-01-01T10:00' is in the past"),
    ({"start": f"{YEAR + 20}-01-01T10:00"}, "start: must be within the next 10 years"),
    ({"title": "   "}, "title: must not be empty"),
    ({"attendees": ["not-an-address@"]}, "attendees[0]: 'not-an-address@' is not an email address"),
    ({"attendees": ["ok@example.com", "Nobody Known"]}, "attendees[1]: no contact is named 'Nobody Known'"),
    ({"idempotency_key": ""}, "idempotency_key: must be 1-200 characters"),
])
async def test_bad_input_is_refused_and_nothing_is_written(client_for, args: dict[str, Any], message: str) -> None:
    async with client_for("alice") as c:
        base = {"title": "Dentist", "start": f"{DAY}T10:00", "duration_minutes": 30, "timezone": "Europe/Madrid"}
        base.update(args)
        text = err(await c.call_tool("schedule_event", {k: v for k, v in base.items() if v is not None}))
        assert message in text, text
        await nothing_written(c)


async def test_an_ambiguous_name_lists_the_candidates(client_for) -> None:
    async with client_for("alice") as c:
        ana = ok(await c.call_tool("save_contact", {"name": "Ana Pérez", "emails": ["ana.p@example.com"]}))["contact"]
        ok(await c.call_tool("save_contact", {"name": "Ana García", "emails": ["ana.g@example.com"]}))
        ok(await c.call_tool("save_contact", {"name": "Pablo Nomail"}))
        text = err(await c.call_tool("schedule_event", {"title": "Lunch", "start": f"{DAY}T13:00",
                                                        "duration_minutes": 60, "attendees": ["Ana"]}))
        assert text.startswith("attendees[0]: 'Ana' matches 2 contacts")
        assert "Ana Pérez <ana.p@example.com>" in text and "Ana García <ana.g@example.com>" in text
        assert f"(id {ana['id']})" in text
        no_email = err(await c.call_tool("schedule_event", {"title": "Lunch", "start": f"{DAY}T13:00",
                                                            "duration_minutes": 60, "attendees": ["Pablo Nomail"]}))
        assert "attendees[0]: the contact 'Pablo Nomail' has no email address" in no_email
        await nothing_written(c)


# -- conflicts ------------------------------------------------------------------------------------


async def test_conflicts_are_reported_refused_or_ignored(client_for) -> None:
    async with client_for("alice") as c:
        first = (await schedule(c, title="Board meeting", start=f"{DAY}T10:00", duration_minutes=60))["event"]
        warned = await schedule(c, title="Call with Jon", start=f"{DAY}T10:30", duration_minutes=60)
        assert warned["action"]["status"] == "completed"
        assert [(x["event_id"], x["title"]) for x in warned["conflicts"]] == [(first["id"], "Board meeting")]
        assert warned["conflicts"][0]["start"] == f"{DAY}T10:00:00+01:00"
        assert "Overlaps: 'Board meeting'" in warned["message"] and "overlaps 'Board meeting'" in warned["action"]["summary"]

        refused = err(await c.call_tool("schedule_event", {
            "title": "Gym", "start": f"{DAY}T10:45", "duration_minutes": 30, "timezone": "Europe/Madrid",
            "check_conflicts": "refuse"}))
        assert "start: the time overlaps 2 other event(s): 'Board meeting'" in refused and "'Call with Jon'" in refused
        assert "Nothing was scheduled" in refused

        ignored = await schedule(c, title="Lunch", start=f"{DAY}T11:00", duration_minutes=60, check_conflicts="ignore")
        assert ignored["conflicts"] == []
        # Touching is not overlapping.
        after = await schedule(c, title="Walk", start=f"{DAY}T12:00", duration_minutes=30, check_conflicts="refuse")
        assert after["conflicts"] == []
        assert [e["title"] for e in await events(c)] == ["Board meeting", "Call with Jon", "Lunch", "Walk"]
        assert len(ok(await c.call_tool("list_actions", {}))["actions"]) == 4


# -- idempotency ----------------------------------------------------------------------------------


async def test_the_same_schedule_twice_makes_one_event(client_for) -> None:
    async with client_for("alice") as c:
        first = await schedule(c, check_conflicts="refuse")
        second = await schedule(c, check_conflicts="refuse")  # its own event is not a conflict with itself
        assert second["action"]["replayed"] is True and second["action"]["action_id"] == first["action"]["action_id"]
        assert second["event"] == first["event"] and second["message"].startswith("This repeats an earlier")
        keyed = await schedule(c, title="Keyed", start=f"{DAY}T12:00", idempotency_key="req-1")
        again = await schedule(c, title="Keyed", start=f"{DAY}T12:00", idempotency_key="req-1")
        assert again["action"]["replayed"] and again["event"]["id"] == keyed["event"]["id"]
        reused = err(await c.call_tool("schedule_event", {"title": "Other", "start": f"{DAY}T15:00",
                                                          "duration_minutes": 30, "idempotency_key": "req-1"}))
        assert "idempotency_key: was already used for a different action" in reused
        assert [e["title"] for e in await events(c)] == ["Dentist", "Keyed"]


async def test_a_cancel_needs_an_existing_event(client_for) -> None:
    async with client_for("alice") as c:
        for bad in (MADE_UP, "", "x" * 2000):
            assert err(await c.call_tool("cancel_event", {"event_id": bad})) == f"event not found: {bad}"
        await nothing_written(c)


# -- confirmation when the settings ask for it ----------------------------------------------------


async def test_always_confirm_holds_the_event_until_the_voice_key(client_for) -> None:
    async with client_for("alice", always_confirm=["schedule_event", "cancel_event"]) as c:
        ok(await c.call_tool("set_voice_key", {"phrase": "purple elephants dance at noon"}))
        pending = await schedule(c)
        assert pending["action"]["status"] == "pending_confirmation" and pending["event"] is None
        assert pending["action"]["reasons"] == ["your settings ask to confirm every schedule_event"]
        assert "Nothing is scheduled yet" in pending["message"]
        assert await events(c) == []
        done = ok(await c.call_tool("confirm_action", {"action_id": pending["action"]["action_id"],
                                                       "phrase": "Purple elephants, dance at noon!"}))
        assert done["status"] == "completed" and done["result"]["event"]["title"] == "Dentist"
        (event,) = await events(c)
        cancel = ok(await c.call_tool("cancel_event", {"event_id": event["id"]}))
        assert cancel["action"]["status"] == "pending_confirmation" and "Nothing is cancelled yet" in cancel["message"]
        assert cancel["event"]["id"] == event["id"] and len(await events(c)) == 1
        ok(await c.call_tool("confirm_action", {"action_id": cancel["action"]["action_id"],
                                                "phrase": "purple elephants dance at noon"}))
        assert await events(c) == []


async def test_a_confirmed_event_rechecks_its_attendees(client_for) -> None:
    async with client_for("alice", always_confirm=["schedule_event"]) as c:
        ok(await c.call_tool("set_voice_key", {"phrase": "purple elephants dance at noon"}))
        contact = ok(await c.call_tool("save_contact", {"name": "Jon Smith", "emails": ["jon@acme.example"]}))["contact"]
        pending = await schedule(c, attendees=["Jon Smith"])
        ok(await c.call_tool("delete_contact", {"contact_id": contact["id"]}))
        done = ok(await c.call_tool("confirm_action", {"action_id": pending["action"]["action_id"],
                                                       "phrase": "purple elephants dance at noon"}))
        assert done["status"] == "failed" and "no longer in your contacts" in done["error"]
        assert await events(c) == []


async def test_a_refusal_is_rechecked_when_a_confirmed_event_runs(client_for) -> None:
    async with client_for("alice", always_confirm=["schedule_event"]) as c:
        ok(await c.call_tool("set_voice_key", {"phrase": "purple elephants dance at noon"}))
        pending = await schedule(c, check_conflicts="refuse")
        other = await schedule(c, title="Meanwhile", check_conflicts="ignore", idempotency_key="m")
        ok(await c.call_tool("confirm_action", {"action_id": other["action"]["action_id"],
                                                "phrase": "purple elephants dance at noon"}))
        done = ok(await c.call_tool("confirm_action", {"action_id": pending["action"]["action_id"],
                                                       "phrase": "purple elephants dance at noon"}))
        assert done["status"] == "failed" and done["error"].startswith("refused: the time now overlaps 'Meanwhile'")
        assert [e["title"] for e in await events(c)] == ["Meanwhile"]


# -- listing --------------------------------------------------------------------------------------


async def test_list_events_window_and_limits(client_for) -> None:
    async with client_for("alice") as c:
        for hour in (9, 11, 13):
            await schedule(c, title=f"At {hour}", start=f"{DAY}T{hour:02d}:00", check_conflicts="ignore")
        window = await events(c, start=f"{DAY}T10:15+01:00", end=f"{DAY}T13:00+01:00")
        assert [e["title"] for e in window] == ["At 11"]  # [start, end): the 13:00 event starts at the end
        limited = ok(await c.call_tool("list_events", {"start": f"{YEAR}-01-01", "end": f"{YEAR}-02-01", "limit": 2}))
        assert [e["title"] for e in limited["events"]] == ["At 9", "At 11"] and limited["truncated"] is True
        default = ok(await c.call_tool("list_events", {}))
        assert default["events"] == [] and default["provider"] == "local"
        for args, message in (({"start": f"{DAY}T10:00", "end": f"{DAY}T09:00"}, "end: must be after start"),
                              ({"start": f"{YEAR}-01-01", "end": f"{YEAR + 2}-01-01"}, "end: at most 366 days"),
                              ({"limit": 0}, "limit: must be between 1 and 500"),
                              ({"start": "soon"}, "start: 'soon' is not an ISO 8601 date-time")):
            assert message in err(await c.call_tool("list_events", args))


# -- crash recovery -------------------------------------------------------------------------------


def _crashed(scope, request) -> Any:  # noqa: ANN001
    """The outbox row of a request whose process died while it was 'sending'."""
    record, created = scope.store.outbox_claim(scope.user_id, NewOutbox(
        kind=request.kind, idempotency_key=f"crash-{request.summary}", args_hash=args_hash(request.kind, request.arguments),
        arguments=request.arguments, summary=request.summary, sensitive=(), status="queued"), window_s=0)
    assert created
    return scope.store.outbox_transition(scope.user_id, record.id, ["queued"], "sending")


def test_recovery_finishes_an_interrupted_schedule_without_a_second_event(runtime) -> None:
    rt = runtime("alice")
    scope = rt.scope_for(rt.local_user_id())
    cal = scope.calendar
    # Died before the calendar saw it: recovery creates it.
    before = _crashed(scope, cal.request_schedule("Before", f"{DAY}T09:00", duration_minutes=30))
    # Died after the calendar stored it, before the outbox heard back: recovery finds it.
    after_req = cal.request_schedule("After", f"{DAY}T11:00", duration_minutes=30)
    after = _crashed(scope, after_req)
    scope.executors()["schedule_event"].execute(after.id, after.arguments)  # the lost first attempt

    done = [scope.actions.recover(before), scope.actions.recover(after)]
    assert [d.status for d in done] == ["completed", "completed"]
    listed = cal.list_events(f"{YEAR}-01-01", f"{YEAR}-02-01")
    assert [(e.title, e.id) for e in listed.events] == [("Before", event_id_for(before.id)),
                                                        ("After", event_id_for(after.id))]


def test_recovery_of_an_interrupted_cancel(runtime) -> None:
    rt = runtime("alice")
    scope = rt.scope_for(rt.local_user_id())
    cal = scope.calendar
    made = scope.actions.submit(cal.request_schedule("Standup", f"{DAY}T09:00", duration_minutes=15))
    event_id = made.result["event"]["id"]
    cancel = _crashed(scope, cal.request_cancel(event_id))
    scope.executors()["cancel_event"].execute(cancel.id, cancel.arguments)  # it was deleted, then the crash
    assert scope.actions.recover(cancel).status == "completed"
    assert cal.list_events(f"{YEAR}-01-01", f"{YEAR}-02-01").events == []


def test_a_google_calendar_without_credentials_says_how_to_connect(runtime, settings_for) -> None:
    rt = runtime("alice")
    settings = settings_for("alice", calendar="google")
    scope = dataclasses.replace(rt.scope_for(rt.local_user_id()), settings=settings,
                                calendars=lambda uid, creds: bootstrap.make_calendar(settings, rt.store, uid, creds))
    with pytest.raises(JarvisError) as raised:
        scope.calendar.list_events()
    assert "no Google account is connected" in str(raised.value)
    assert "jarvis-mcp connect google --client-secrets FILE" in str(raised.value)


# -- two users ------------------------------------------------------------------------------------


async def test_bob_cannot_list_cancel_replay_or_export_alices_events(client_for) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        hers = await schedule(alice, title="Secret zanzibar summit", idempotency_key="shared-key",
                              attendees=["spy@zanzibar.example"])
        event_id = hers["event"]["id"]
        assert await events(bob) == []
        mine = err(await bob.call_tool("cancel_event", {"event_id": event_id}))
        made_up = err(await bob.call_tool("cancel_event", {"event_id": MADE_UP}))
        assert mine.replace(event_id, "<id>") == made_up.replace(MADE_UP, "<id>")
        # The same key is Bob's own: it makes his own event, it does not replay Alice's.
        his = await schedule(bob, title="Bob's lunch", idempotency_key="shared-key")
        assert his["action"]["replayed"] is False and his["event"]["id"] != event_id
        assert "zanzibar" not in json.dumps(his)
        # Alice's event is not a conflict for Bob, and his schedule is no conflict for her.
        assert his["conflicts"] == []
        ics = (await bob.read_resource("jarvis://me/calendar.ics")).contents[0].text
        assert "zanzibar" not in ics and event_id not in ics
        theirs = err(await bob.call_tool("get_action", {"action_id": hers["action"]["action_id"]}))
        assert theirs.endswith(f"action not found: {hers['action']['action_id']}")
        assert [e["id"] for e in await events(alice)] == [event_id]


def test_the_ics_export_round_trips_zones_and_text() -> None:
    from jarvis_mcp.calendar.ics import to_ics
    from jarvis_mcp.calendar.ports import EventRecord

    def at(*args: int) -> float:
        return datetime(*args, tzinfo=UTC).timestamp()

    records = [
        EventRecord("a" * 32, "Summer; with, commas", at(2045, 7, 1, 8), at(2045, 7, 1, 9), "Europe/Madrid",
                    ("x@example.com", "y@example.com"), description="line 1\nline 2"),
        EventRecord("b" * 32, "In UTC", at(YEAR, 1, 1, 8), at(YEAR, 1, 1, 9), "UTC"),
        EventRecord("c" * 32, "Bad zone stored", at(YEAR, 1, 2, 8), at(YEAR, 1, 2, 9), "Nowhere/Land"),
    ]
    parsed = ICalendar.from_ical(to_ics(records, now=at(YEAR, 1, 1)))
    got = {str(e["UID"]): e for e in parsed.walk("VEVENT")}
    summer = got["a" * 32 + "@jarvis-mcp"]
    assert str(summer["SUMMARY"]) == "Summer; with, commas" and str(summer["DESCRIPTION"]) == "line 1\nline 2"
    assert summer.decoded("DTSTART").isoformat() == "2045-07-01T10:00:00+02:00"  # past icalendar's 2038 default
    assert [str(a) for a in summer["ATTENDEE"]] == ["mailto:x@example.com", "mailto:y@example.com"]
    assert got["b" * 32 + "@jarvis-mcp"].decoded("DTSTART") == datetime(YEAR, 1, 1, 8, tzinfo=UTC)
    assert got["c" * 32 + "@jarvis-mcp"].decoded("DTSTART") == datetime(YEAR, 1, 2, 8, tzinfo=UTC)
    assert [str(tz["TZID"]) for tz in parsed.walk("VTIMEZONE")] == ["Europe/Madrid"]
