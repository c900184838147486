"""The calls store's two additions on PostgreSQL, under RLS: the webhook's one cross-user read (whose call is
this? answered by the definer function of migration 0016, with the owner's id only) and the contact's voice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pgtest import PgDatabase, fresh_database, system_cluster

from jarvis_mcp.actions.ports import NewOutbox
from jarvis_mcp.adapters.postgres import PostgresStore, open_postgres
from jarvis_mcp.contacts.ports import ContactWrite


@pytest.fixture(scope="module")
def pgdb() -> Iterator[PgDatabase]:
    with fresh_database(system_cluster()) as db:
        yield db


@pytest.fixture
def store(pgdb: PgDatabase, embedder) -> Iterator[PostgresStore]:
    s, _ = open_postgres(pgdb.app_url, vector_index="numpy", pool_size=2)
    s.ensure_embedding_model(embedder.model_id, embedder.dim)
    yield s
    s.close()


def test_call_owner_and_contact_voice_on_postgres(store: PostgresStore) -> None:
    alice = store.user_for_identity("local", f"alice-{uuid.uuid4()}", "local", None)
    bob = store.user_for_identity("local", f"bob-{uuid.uuid4()}", "local", None)
    call, _ = store.outbox_claim(alice, NewOutbox("call_contact", f"k-{uuid.uuid4()}", "h", {"to_number": "+34600000000"},
                                                  "a call", (), "sent"), 0)
    mail, _ = store.outbox_claim(alice, NewOutbox("send_email", f"k-{uuid.uuid4()}", "h", {"to": "a@example.com"},
                                                  "a mail", (), "queued"), 0)
    assert store.call_owner(call.id) == alice
    assert store.call_owner(mail.id) is None and store.call_owner(str(uuid.uuid4())) is None
    assert store.call_owner("not-a-uuid") is None

    [ana] = store.write_contacts(alice, [ContactWrite(None, "Ana", (), ("+34600000000",), None, None, (), None,
                                                      "hermana", "manual", None)])
    assert store.set_contact_voice(bob, ana.id, "voice_evil", "rude") is None  # RLS and the filter: nothing
    assert store.set_contact_voice(alice, ana.id, "21m00Tcm4TlvDq8ikWAM", "cálida") == ""
    [saved] = store.contacts_by_id(alice, [ana.id])
    assert (saved.voice, saved.personality) == ("21m00Tcm4TlvDq8ikWAM", "cálida")
    assert store.set_contact_agent(alice, ana.id, "agent_1") == "agent_1"
    assert store.set_contact_voice(alice, ana.id, "21m00Tcm4TlvDq8ikWAM", "breve") == "agent_1"
