"""The CallStore port (cached call state, the contact's voice agent) over the SQLite and Postgres stores."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from jarvis_mcp.actions.ports import NewOutbox
from jarvis_mcp.calls.ports import CallRecord
from jarvis_mcp.contacts.ports import ContactWrite

# Pinecone and pgvector only change the vector index; calls live in these two stores.
pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True, scope="module")


def new_user(store: Any) -> str:
    return store.user_for_identity("https://idp.test", f"calls-{uuid.uuid4()}", "local", None)


def new_call(store: Any, user: str, kind: str = "call_contact") -> str:
    record, _ = store.outbox_claim(user, NewOutbox(
        kind=kind, idempotency_key=f"key-{uuid.uuid4()}", args_hash=uuid.uuid4().hex,
        arguments={"to_number": "+34612345678"}, summary="Phone Ana", sensitive=(), status="sent"), window_s=0)
    return record.id


def call(call_id: str, **kw: Any) -> CallRecord:
    base = CallRecord(call_id=call_id, conversation_id="conv_1", status="in_progress",
                      transcript=({"role": "agent", "text": "Hola", "at_seconds": 0},), summary=None,
                      duration_seconds=None, ended_reason=None, updated_at=1_700_000_000.0)
    return replace(base, **kw)


def new_contact(store: Any, user: str) -> str:
    return store.write_contacts(user, [ContactWrite(
        id=None, name="Ana", emails=(), phones=("+34612345678",), company=None, role=None, tags=(), notes=None,
        relationship=None, source="manual", source_id=None)])[0].id


def test_put_get_and_replace(store_index) -> None:
    store, _ = store_index
    alice = new_user(store)
    call_id = new_call(store, alice)
    assert store.call_get(alice, call_id) is None
    store.call_put(alice, call(call_id))
    assert store.call_get(alice, call_id) == call(call_id)
    done = call(call_id, status="done", summary="Confirmed", duration_seconds=42, ended_reason="hangup",
                transcript=({"role": "agent", "text": "Hola", "at_seconds": 0},
                            {"role": "user", "text": "¡Sí! 👍", "at_seconds": 3}), updated_at=1_700_000_100.0)
    store.call_put(alice, done)
    assert store.call_get(alice, call_id) == done
    assert store.call_get(alice, "not-a-uuid") is None


def test_rows_hang_off_the_users_own_call_actions(store_index) -> None:
    store, _ = store_index
    alice, bob = new_user(store), new_user(store)
    hers = new_call(store, alice)
    store.call_put(bob, call(hers, summary="Bob's"))  # someone else's action: nothing written
    assert store.call_get(bob, hers) is None and store.call_get(alice, hers) is None
    store.call_put(alice, call(hers))
    store.call_put(bob, call(hers, summary="overwritten"))
    assert store.call_get(alice, hers) == call(hers) and store.call_get(bob, hers) is None
    email = new_call(store, alice, kind="send_email")  # only call actions have call rows
    store.call_put(alice, call(email))
    assert store.call_get(alice, email) is None
    store.call_put(alice, call(str(uuid.uuid4())))  # no such action
    store.call_put(alice, call("not-a-uuid"))


def test_the_first_agent_saved_on_a_contact_wins(store_index) -> None:
    store, _ = store_index
    alice, bob = new_user(store), new_user(store)
    ana = new_contact(store, alice)
    assert store.set_contact_agent(bob, ana, "agent_bob") is None  # not his contact
    assert store.set_contact_agent(alice, ana, "agent_1") == "agent_1"
    assert store.set_contact_agent(alice, ana, "agent_2") == "agent_1"  # a racing second agent loses
    assert store.contacts_by_id(alice, [ana])[0].agent_id == "agent_1"
    assert store.set_contact_agent(alice, str(uuid.uuid4()), "agent_3") is None
    assert store.set_contact_agent(alice, "not-a-uuid", "agent_3") is None
    # A later edit of the contact keeps its agent.
    rec = store.contacts_by_id(alice, [ana])[0]
    store.write_contacts(alice, [ContactWrite(
        id=ana, name="Ana María", emails=(), phones=rec.phones, company=None, role=None, tags=(), notes=None,
        relationship=None, source="manual", source_id=None)])
    assert store.contacts_by_id(alice, [ana])[0].agent_id == "agent_1"
