"""The interactions table on Postgres: the same contract as SQLite (idempotent links, newest first, filters,
the newest per party), per user, with Row Level Security keeping another user's claims from seeing a row;
and get_client_history end to end on a Postgres runtime."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgtest import PgDatabase, fresh_database, system_cluster

from jarvis_mcp.adapters.postgres import PostgresStore, open_postgres
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.timeline.ports import KINDS, InteractionRecord


@pytest.fixture(scope="module")
def pgdb() -> Iterator[PgDatabase]:
    with fresh_database(system_cluster()) as db:
        yield db


@pytest.fixture
def store(pgdb: PgDatabase) -> Iterator[PostgresStore]:
    s, _ = open_postgres(pgdb.app_url, vector_index="numpy", pool_size=2)
    yield s
    s.close()


def test_links_newest_first_per_user(store: PostgresStore, pgdb: PgDatabase) -> None:
    a = store.user_for_identity("https://idp", f"a-{uuid.uuid4()}", "google", None)
    b = store.user_for_identity("https://idp", f"b-{uuid.uuid4()}", "google", None)
    store.interaction_add(a, [InteractionRecord("c1", "memory", "m1", 10.0, "hola"),
                              InteractionRecord("ana@x.es", "email", "e1", 30.0, "correo"),
                              InteractionRecord("c1", "call", "k1", 20.0, "llamada")])
    store.interaction_add(a, [InteractionRecord("c1", "memory", "m1", 10.0, "hola")])  # idempotent
    got = store.interaction_list(a, ["c1", "ana@x.es"], list(KINDS), None, None, 10)
    assert [r.ref for r in got] == ["e1", "k1", "m1"]
    assert [r.ref for r in store.interaction_list(a, ["c1"], ["memory"], None, None, 10)] == ["m1"]
    assert [r.ref for r in store.interaction_list(a, ["c1", "ana@x.es"], list(KINDS), 15.0, 25.0, 10)] == ["k1"]
    assert len(store.interaction_list(a, ["c1", "ana@x.es"], list(KINDS), None, None, 1)) == 1
    last = store.interaction_last(a, ["c1", "ana@x.es"])
    assert (last["c1"].ref, last["ana@x.es"].ref) == ("k1", "e1")
    assert store.interaction_list(b, ["c1", "ana@x.es"], list(KINDS), None, None, 10) == []
    assert store.interaction_last(b, ["c1"]) == {}
    # Row Level Security: an unfiltered query under Bob's claims sees none of Alice's links.
    with psycopg.connect(pgdb.app_url) as conn:
        conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": b}),))
        assert conn.execute("SELECT count(*) FROM jarvis.interactions").fetchone()[0] == 0


def store_links(runtime, party: str) -> list[InteractionRecord]:  # noqa: ANN001 - Runtime
    return runtime.store.interaction_list(runtime.local_user_id(), [party], ["memory"], None, None, 10)


def test_history_on_a_postgres_runtime(tmp_path: Path, pgdb: PgDatabase, embedder) -> None:
    runtime = open_runtime(Settings(home=tmp_path, user="alice", store="postgres",  # type: ignore[arg-type]
                                    database_url=pgdb.app_url), embedder=embedder)
    try:
        scope = runtime.scope_for(runtime.local_user_id())
        laura = scope.contacts.save(name="Laura García", emails=["laura@cliente.es"]).contact
        parties = scope.timeline.parties(["Laura"])
        memory = scope.memory.remember("Laura prefiere las mañanas").memory
        scope.interactions.record_memory(parties, "memory", memory)
        scope.interactions.record("laura@cliente.es", "email", "e-1", memory.created_at.timestamp() + 5, "Propuesta")
        out = scope.timeline.history("Laura")
        assert out.contact_id == laura.id
        assert [(i.kind, i.id) for i in out.items] == [("email_sent", "e-1"), ("memory", memory.id)]
        hit = scope.timeline.with_last_contact(scope.contacts.search("Laura")).hits[0]
        assert hit.last_contact_kind == "email_sent"
        scope.memory.forget([memory.id])  # its link goes with it
        assert store_links(runtime, laura.id) == []
    finally:
        runtime.close()
