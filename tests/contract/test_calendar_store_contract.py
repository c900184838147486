"""The local calendar's store methods (CalendarStore) over every store adapter (see conftest.py)."""

from __future__ import annotations

import uuid

from jarvis_mcp.calendar.ports import NewEvent

T0 = 2_000_000_000.0  # 2033-05-18


def new_user(store) -> str:  # noqa: ANN001
    return store.user_for_identity("https://idp.test", f"calendar-{uuid.uuid4()}", "local", None)


def event(title: str, start: float, minutes: int = 60, **kw) -> NewEvent:  # noqa: ANN003
    return NewEvent(id=uuid.uuid4().hex, title=title, start=start, end=start + minutes * 60, timezone="Europe/Madrid",
                    **kw)


def test_insert_is_idempotent_and_reads_back(store_index) -> None:
    store, _ = store_index
    alice = new_user(store)
    first = event("Dentist", T0, attendees=("ana@example.com", "jon@example.com"), location="Clinic",
                  description="Bring the X-rays")
    stored = store.calendar_insert(alice, first)
    assert (stored.id, stored.title, stored.start, stored.end, stored.timezone) == (
        first.id, "Dentist", T0, T0 + 3600, "Europe/Madrid")
    assert stored.attendees == ("ana@example.com", "jon@example.com") and stored.location == "Clinic"
    assert stored.description == "Bring the X-rays" and stored.created_at is not None
    # The same id again (a retried insert) returns the first event untouched.
    again = store.calendar_insert(alice, NewEvent(id=first.id, title="Changed", start=T0, end=T0 + 60, timezone="UTC"))
    assert again == stored
    assert store.calendar_get(alice, first.id) == stored
    assert store.calendar_get(alice, "missing") is None


def test_list_returns_overlapping_events_by_start(store_index) -> None:
    store, _ = store_index
    alice = new_user(store)
    early = store.calendar_insert(alice, event("Early", T0 - 7200))          # ends at T0 - 3600
    touching = store.calendar_insert(alice, event("Touching", T0 - 3600))    # ends exactly at T0
    inside = store.calendar_insert(alice, event("Inside", T0 + 600, 30))
    spanning = store.calendar_insert(alice, event("Spanning", T0 - 600, 180))
    late = store.calendar_insert(alice, event("Late", T0 + 3600))            # starts exactly at the end
    window = store.calendar_list(alice, T0, T0 + 3600, 10)
    assert [e.title for e in window] == ["Spanning", "Inside"]
    assert [e.title for e in store.calendar_list(alice, T0 - 86400, T0 + 86400, 10)] == [
        "Early", "Touching", "Spanning", "Inside", "Late"]
    assert [e.id for e in store.calendar_list(alice, T0 - 86400, T0 + 86400, 2)] == [early.id, touching.id]
    assert {inside.id, spanning.id, late.id} <= {e.id for e in store.calendar_list(alice, T0 - 86400, T0 + 86400, 10)}


def test_delete(store_index) -> None:
    store, _ = store_index
    alice = new_user(store)
    stored = store.calendar_insert(alice, event("Standup", T0))
    assert store.calendar_delete(alice, stored.id) is True
    assert store.calendar_delete(alice, stored.id) is False
    assert store.calendar_get(alice, stored.id) is None and store.calendar_list(alice, T0 - 1, T0 + 1, 10) == []


def test_another_users_events_are_absent(store_index) -> None:
    store, _ = store_index
    alice, bob = new_user(store), new_user(store)
    hers = store.calendar_insert(alice, event("Alice's secret", T0))
    assert store.calendar_get(bob, hers.id) is None
    assert store.calendar_list(bob, T0 - 86400, T0 + 86400, 10) == []
    assert store.calendar_delete(bob, hers.id) is False
    # The same event id is Bob's own, separate event: his insert neither returns nor changes hers.
    his = store.calendar_insert(bob, NewEvent(id=hers.id, title="Bob's", start=T0, end=T0 + 60, timezone="UTC"))
    assert his.title == "Bob's" and store.calendar_get(alice, hers.id) == hers
    assert store.calendar_delete(bob, hers.id) is True and store.calendar_get(alice, hers.id) == hers
