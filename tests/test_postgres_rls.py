"""PostgreSQL: Row Level Security holds even for a query with no user filter; bad configuration stops the
server with a clear message; `jarvis-mcp migrate`; the whole MCP server on Postgres for two users.

Each module run creates its own database and app role on the machine's PostgreSQL (pgvector ones on
pgserver) and drops them afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest
from pgtest import PgDatabase, fresh_database, pgvector_cluster, system_cluster
from psycopg import errors, sql
from servers import run_cli

from jarvis_mcp.account.ports import ConversationRecord
from jarvis_mcp.actions.ports import NewOutbox
from jarvis_mcp.adapters.postgres import PgVectorIndex, PostgresStore, migrate, open_postgres
from jarvis_mcp.adapters.postgres.database import Database
from jarvis_mcp.adapters.postgres.jobs import PostgresJobQueue
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.calendar.ports import NewEvent
from jarvis_mcp.calls.ports import CallRecord
from jarvis_mcp.config import ConfigError, Settings, load_settings
from jarvis_mcp.contacts.ports import ContactWrite
from jarvis_mcp.documents.ports import NewDocument
from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.identity.ports import GrantRecord, SessionRecord, TokenRecord
from jarvis_mcp.jobs.ports import NewJob
from jarvis_mcp.memory.ports import MemoryFilter, NewMemory
from jarvis_mcp.timeline.ports import InteractionRecord

# Tables any user's rows live in; the rest (global) must hold nothing per user.
GLOBAL_TABLES = {"meta", "schema_migrations", "app_privileges", "oauth_clients", "sign_in_tokens"}


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


def user_tables(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'jarvis' AND c.relkind = 'r' ORDER BY 1").fetchall() if r[0] not in GLOBAL_TABLES]


def owner_column(table: str) -> str:
    return "id" if table == "users" else "user_id"


def populate(store: PostgresStore, embedder, user: str, tag: str) -> None:
    """A row of this user in every table the store writes."""
    conv = str(uuid.uuid4())
    store.add_conversation(user, ConversationRecord(conv, f"{tag} chat", 1_700_000_000.0, 1))
    text = f"{tag}'s secret: the safe combination is 31-07-99"
    store.insert_memories(user, [NewMemory("note", text, f"{tag}-{uuid.uuid4()}", ("secret",)),
                                 NewMemory("conversation", f"{tag} said hi", f"{tag}-c-{uuid.uuid4()}",
                                           conversation_id=conv, role="user", position=0)],
                          embedder.embed([text, f"{tag} said hi"]))
    store.record_action(user, "remember", {"text": text}, "ok", None, 1.0)
    store.update_user(user, {"name": tag})
    data = f"{tag} document {uuid.uuid4()}"
    store.add_document(user, NewDocument(str(uuid.uuid4()), f"{tag} doc", "doc.txt", "text/plain", len(data),
                                         uuid.uuid4().hex * 2, ("x",), None, data, "doc"), 1 << 20)
    store.write_contacts(user, [ContactWrite(None, f"{tag}'s doctor", (f"doc-{tag}@example.com",), ("+34600000000",),
                                             None, None, (), None, None, "manual", None)])
    store.put_credential(user, "google", b"sealed")
    store.set_sync_token(user, "google", f"{tag}-token")
    store.outbox_claim(user, NewOutbox("send_email", f"{tag}-{uuid.uuid4()}", "h", {"to": f"{tag}@example.com"},
                                       f"{tag} email", (), "queued"), 0)
    store.calendar_insert(user, NewEvent(uuid.uuid4().hex, f"{tag}'s dentist", 2e9, 2e9 + 3600, "UTC", (f"{tag}@example.com",)))
    placed, _ = store.outbox_claim(user, NewOutbox("call_contact", f"{tag}-{uuid.uuid4()}", "h", {"to_number": "+34600000000"},
                                                   f"{tag} call", (), "sent"), 0)
    store.call_put(user, CallRecord(placed.id, "conv", "done", ({"role": "user", "text": f"{tag} here"},), None, None, None, 1.0))
    store.put_grant(GrantRecord(uuid.uuid4().hex, "code", "client", user, "{}", 2e9))
    store.add_tokens([TokenRecord(uuid.uuid4().hex, "access", "family", user, "client", "", "r", 2e9)], 0)
    store.put_session(uuid.uuid4().hex, SessionRecord(user, "email", 2e9), 0)
    PostgresJobQueue(store.db).enqueue(user, NewJob("index_document", {"document_id": f"{tag}-doc"}))
    store.interaction_add(user, [InteractionRecord(f"doc-{tag}@example.com", "email", f"{tag}-mail", 1.0, f"{tag} hi")])


def as_app(db: PgDatabase, user_id: str | None) -> psycopg.Connection:
    """A raw connection as the app role, inside a transaction carrying that user's claims (or none)."""
    conn = psycopg.connect(db.app_url)
    if user_id is not None:
        conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": user_id}),))
    return conn


# -- Row Level Security ---------------------------------------------------------------------------


def test_unfiltered_queries_as_user_b_return_nothing_of_user_a(pgdb, store, embedder) -> None:
    alice = store.user_for_identity("https://idp", f"alice-{uuid.uuid4()}", "google", None)
    bob = store.user_for_identity("https://idp", f"bob-{uuid.uuid4()}", "google", None)
    populate(store, embedder, alice, "alice")
    populate(store, embedder, bob, "bob")

    with psycopg.connect(pgdb.owner_url) as owner:  # the owner bypasses RLS: alice has a row in every table
        owner.execute("INSERT INTO jarvis.user_limits (user_id, tier, updated_at) VALUES (%s, 'pro', 0), (%s, 'free', 0)",
                      (alice, bob))
        # As in the middle of `jarvis-mcp reindex`: the next model's vectors beside the active ones.
        owner.execute("INSERT INTO jarvis.reindex_memories SELECT seq, user_id, embedding FROM jarvis.memories")
        owner.execute("INSERT INTO jarvis.reindex_contacts SELECT seq, user_id, embedding, 0 FROM jarvis.contacts, "
                      "LATERAL (SELECT embedding FROM jarvis.memories m WHERE m.user_id = contacts.user_id LIMIT 1) e")
        tables = user_tables(owner)
        for table in tables:
            found = owner.execute(sql.SQL("SELECT count(*) FROM jarvis.{} WHERE {} = %s").format(
                sql.Identifier(table), sql.Identifier(owner_column(table))), (alice,)).fetchone()[0]
            assert found > 0, table
    assert {"memories", "users", "identities", "documents", "actions", "usage", "conversations", "contacts",
            "user_limits"} <= set(tables)

    with as_app(pgdb, bob) as conn:
        rows = conn.execute("SELECT * FROM jarvis.memories").fetchall()
        assert rows and all(str(r[2]) == bob for r in rows)  # bob's own rows come back: the query works
        assert not any("alice" in str(r) for r in rows)
        for table in tables:
            owners = {str(r[0]) for r in conn.execute(
                sql.SQL("SELECT {} FROM jarvis.{}").format(sql.Identifier(owner_column(table)), sql.Identifier(table)))}
            assert owners <= {bob}, table
        assert conn.execute("SELECT count(*) FROM jarvis.memories WHERE user_id = %s", (alice,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM jarvis.memories WHERE tsv @@ 'safe'::tsquery").fetchone()[0] == 1


def test_without_claims_nothing_is_visible(pgdb, store, embedder) -> None:
    alice = store.user_for_identity("https://idp", f"alice-{uuid.uuid4()}", "google", None)
    populate(store, embedder, alice, "alice")
    with as_app(pgdb, None) as conn:
        for table in user_tables(conn):
            assert conn.execute(sql.SQL("SELECT count(*) FROM jarvis.{}").format(sql.Identifier(table))).fetchone()[0] == 0


def test_unfiltered_writes_as_user_b_never_touch_user_a(pgdb, store, embedder) -> None:
    alice = store.user_for_identity("https://idp", f"alice-{uuid.uuid4()}", "google", None)
    bob = store.user_for_identity("https://idp", f"bob-{uuid.uuid4()}", "google", None)
    populate(store, embedder, alice, "alice")
    populate(store, embedder, bob, "bob")
    with as_app(pgdb, bob) as conn:
        conn.execute("UPDATE jarvis.memories SET text = 'overwritten'")
        conn.execute("UPDATE jarvis.users SET name = 'overwritten'")
        conn.execute("DELETE FROM jarvis.actions")
        conn.execute("DELETE FROM jarvis.memories")
    assert store.count_memories(alice) == 2 and store.count_memories(bob) == 0
    assert all(m.text != "overwritten" for m in store.recent_memories(alice, 10))
    assert store.get_user(alice).name == "alice" and store.get_user(bob).name == "overwritten"
    assert store.recent_actions(alice, 10) and not store.recent_actions(bob, 10)
    # A row claiming to be alice's is refused outright.
    with as_app(pgdb, bob) as conn, pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        conn.execute("INSERT INTO jarvis.conversations VALUES (%s, %s, 'x', 0, 0)", (str(uuid.uuid4()), alice))


def test_every_user_table_has_row_level_security(pgdb) -> None:
    with psycopg.connect(pgdb.owner_url) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relrowsecurity, "
            "  (SELECT string_agg(pg_get_expr(p.polqual, p.polrelid), ' ') FROM pg_policy p WHERE p.polrelid = c.oid), "
            "  EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'user_id') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'jarvis' AND c.relkind = 'r'"
        ).fetchall()
    for name, rls, policy, has_user_id in rows:
        if name in GLOBAL_TABLES:
            assert not has_user_id, name
            continue
        assert rls and policy and "auth.uid()" in policy, (name, policy)
        assert has_user_id or name == "users", name


def test_the_app_role_cannot_reach_around_rls(pgdb, store) -> None:
    alice = store.user_for_identity("https://idp", f"alice-{uuid.uuid4()}", "google", None)
    attempts = [
        "ALTER TABLE jarvis.memories DISABLE ROW LEVEL SECURITY",
        "DROP POLICY own_rows ON jarvis.memories",
        "SELECT * FROM jarvis.app_privileges",
        "SELECT jarvis.grant_app('public')",
        "SELECT jarvis.enable_pgvector()",
        "UPDATE jarvis.meta SET value = 'other'",
        "DELETE FROM jarvis.identities",
        "SET ROLE postgres",
        "CREATE TABLE jarvis.sneaky (x int)",
    ]
    for statement in attempts:
        with as_app(pgdb, alice) as conn, pytest.raises(psycopg.Error):
            conn.execute(statement)
    # A role that was never granted the app's privileges cannot even resolve identities.
    stranger = f"jarvis_stranger_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pgdb.owner_url, autocommit=True) as owner:
        owner.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(stranger)))
    try:
        with psycopg.connect(pgdb.cluster.url(pgdb.name, stranger)) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT jarvis.resolve_identity('a', 'b', 'c', NULL)")
    finally:
        with psycopg.connect(pgdb.owner_url, autocommit=True) as owner:
            owner.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(stranger)))


def test_claims_do_not_outlive_their_transaction(pgdb, store, embedder) -> None:
    alice = store.user_for_identity("https://idp", f"alice-{uuid.uuid4()}", "google", None)
    populate(store, embedder, alice, "alice")
    db = Database(pgdb.app_url, pool_size=1)  # one connection: the next transaction reuses it
    try:
        with db.session(alice) as conn:
            assert conn.execute("SELECT count(*) FROM jarvis.memories").fetchone()[0] == 2
        with db.anonymous() as conn:
            assert conn.execute("SELECT auth.uid()").fetchone()[0] is None
            assert conn.execute("SELECT count(*) FROM jarvis.memories").fetchone()[0] == 0
        with pytest.raises(RuntimeError), db.session(alice) as conn:
            raise RuntimeError("a failed transaction")
        with db.anonymous() as conn:
            assert conn.execute("SELECT count(*) FROM jarvis.memories").fetchone()[0] == 0
    finally:
        db.close()


def test_identities_resolve_through_the_definer_function_only(pgdb, store) -> None:
    mail = f"carol-{uuid.uuid4().hex[:6]}@example.com"
    carol = store.user_for_identity("https://accounts.google.com", f"g-{uuid.uuid4()}", "google", mail)
    assert store.user_for_identity("https://magic.link", f"m-{uuid.uuid4()}", "email", mail) == carol
    dave = store.user_for_identity("https://idp", f"dave-{uuid.uuid4()}", "google", None)
    with as_app(pgdb, dave) as conn:
        assert conn.execute("SELECT count(*) FROM jarvis.identities").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM jarvis.identities WHERE email = %s", (mail,)).fetchone()[0] == 0
    with as_app(pgdb, carol) as conn:
        assert conn.execute("SELECT count(*) FROM jarvis.identities").fetchone()[0] == 2


# -- bad configuration stops the server ------------------------------------------------------------


def test_the_tables_owner_or_a_superuser_is_refused(pgdb) -> None:
    with pytest.raises(ConfigError, match="superuser.*Row Level Security would not apply.*--app-role"):
        open_postgres(pgdb.owner_url, vector_index="auto")


def test_an_unmigrated_database_is_refused() -> None:
    with fresh_database(system_cluster(), migrate=False) as db, \
            pytest.raises(ConfigError, match="no jarvis schema; run `jarvis-mcp migrate`"):
        open_postgres(db.owner_url, vector_index="auto")


def test_an_unreachable_database_is_refused(tmp_path) -> None:
    settings = Settings(home=tmp_path, store="postgres", database_url="postgresql://app:secret-pw@127.0.0.1:1/jarvis")  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as refused:
        open_runtime(settings)
    message = str(refused.value)
    assert "JARVIS_DATABASE_URL: cannot connect to app@127.0.0.1:1/jarvis" in message
    assert "secret-pw" not in message


def test_pgvector_without_the_extension_is_refused(pgdb, tmp_path, embedder) -> None:
    settings = Settings(home=tmp_path, store="postgres", database_url=pgdb.app_url, vector_index="pgvector")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"JARVIS_VECTOR_INDEX=pgvector: .*pgvector extension \('vector'\) is not installed"):
        open_runtime(settings, embedder=embedder)
    # auto falls back to the numpy index on this database.
    runtime = open_runtime(settings.model_copy(update={"vector_index": "auto"}), embedder=embedder)
    try:
        assert isinstance(runtime.index, PostgresStore)
    finally:
        runtime.close()


def test_a_store_of_another_embedding_dimension_is_refused(pgdb, tmp_path, embedder) -> None:
    class Other:
        model_id, dim = embedder.model_id, embedder.dim * 2

        def embed(self, texts):  # noqa: ANN001, ANN202 - never called
            raise AssertionError

    settings = Settings(home=tmp_path, store="postgres", database_url=pgdb.app_url)  # type: ignore[arg-type]
    open_runtime(settings, embedder=embedder).close()  # records the model
    with pytest.raises(StoreMismatch, match=f"dimension {embedder.dim}.*dimension {embedder.dim * 2}"):
        open_runtime(settings, embedder=Other())


def test_settings_need_a_database_url_for_postgres(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("JARVIS_STORE", "postgres")
    with pytest.raises(ConfigError, match="JARVIS_STORE=postgres needs JARVIS_DATABASE_URL"):
        load_settings(home=tmp_path)
    monkeypatch.setenv("JARVIS_STORE", "sqlite")
    monkeypatch.setenv("JARVIS_VECTOR_INDEX", "pgvector")
    with pytest.raises(ConfigError, match="JARVIS_VECTOR_INDEX=pgvector needs JARVIS_STORE=postgres"):
        load_settings(home=tmp_path)


def test_cli_stops_with_the_message(pgdb, tmp_path) -> None:
    done = run_cli(["doctor"], home=tmp_path, env={"JARVIS_STORE": "postgres",
                                                   "JARVIS_DATABASE_URL": pgdb.owner_url})
    assert done.returncode == 2 and "superuser" in done.stderr and "Traceback" not in done.stderr


# -- migrate --------------------------------------------------------------------------------------


def test_cli_migrate_creates_the_schema_and_the_app_role_once(tmp_path) -> None:
    with fresh_database(system_cluster(), migrate=False) as db:
        args = ["migrate", "--database-url", db.owner_url, "--app-role", db.app_role]
        first = run_cli(args, home=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "0001_init.sql" in first.stdout and f"app role {db.app_role}: created" in first.stdout
        second = run_cli(args, home=tmp_path)
        assert second.returncode == 0 and "nothing (up to date)" in second.stdout and "exists" in second.stdout
        store, _ = open_postgres(db.app_url, vector_index="auto")
        store.close()
        refused = run_cli(["migrate", "--database-url", db.owner_url, "--app-role", "postgres"], home=tmp_path)
        assert refused.returncode == 2 and "superuser" in refused.stderr


def test_migrate_turns_pgvector_on_later_and_copies_existing_vectors(embedder) -> None:
    with pgvector_cluster() as cluster, fresh_database(cluster) as db:
        with psycopg.connect(db.owner_url) as owner:  # as if the extension had come after the data
            owner.execute("ALTER TABLE jarvis.memories DROP COLUMN embedding_vec")
        store, index = open_postgres(db.app_url, vector_index="auto")
        try:
            assert index is store  # no column: the numpy index
            store.ensure_embedding_model(embedder.model_id, embedder.dim)
            alice = store.user_for_identity("https://idp", "alice", "google", None)
            texts = ["The boiler service is booked for March", "Passport renewal due in June"]
            store.insert_memories(alice, [NewMemory("note", t, t) for t in texts], embedder.embed(texts))
        finally:
            store.close()
        report = migrate(db.owner_url, app_role=db.app_role)
        assert report.pgvector and report.backfilled == 2 and report.applied == []
        store, index = open_postgres(db.app_url, vector_index="pgvector")
        try:
            assert isinstance(index, PgVectorIndex)
            hits = index.search(alice, embedder.embed(["when is my passport due"])[0], MemoryFilter(), 5)
            assert [store.memories_by_seq(alice, [s])[0].text for s, _ in hits][0] == texts[1]
        finally:
            store.close()


# -- the MCP server on Postgres -------------------------------------------------------------------


async def test_mcp_server_on_postgres_keeps_two_users_apart(pgdb, client_for) -> None:
    pg = {"store": "postgres", "database_url": pgdb.app_url}

    def ok(result):  # noqa: ANN001, ANN202
        assert not result.is_error, result.content[0].text
        return result.structured_content

    async with client_for(f"alice-{uuid.uuid4().hex[:6]}", **pg) as alice:
        secret = ok(await alice.call_tool("remember", {"text": "The alarm code is 4417, back door", "tags": ["home"]}))
        ok(await alice.call_tool("remember", {"text": "Dentist appointment on Tuesday at 10"}))
        hits = ok(await alice.call_tool("search_memory", {"query": "what is the alarm code?"}))["hits"]
        assert hits[0]["id"] == secret["memory"]["id"]
        secret_id = secret["memory"]["id"]

    async with client_for(f"bob-{uuid.uuid4().hex[:6]}", **pg) as bob:
        ok(await bob.call_tool("remember", {"text": "Bob's bike lock code is 1234"}))
        for query in ("alarm code 4417 back door", "dentist appointment"):
            hits = ok(await bob.call_tool("search_memory", {"query": query, "top_k": 50}))["hits"]
            assert all("4417" not in h["text"] and "Dentist" not in h["text"] for h in hits), hits
        assert ok(await bob.call_tool("forget", {"memory_ids": [secret_id]})) == {
            "forgotten": [], "not_found": [secret_id], "confirmation": None}
        with pytest.raises(Exception, match="not found"):
            await bob.read_resource(f"jarvis://me/memories/{secret_id}")

    async with client_for(f"alice-again-{uuid.uuid4().hex[:6]}", **pg) as stranger:
        assert ok(await stranger.call_tool("search_memory", {"query": "alarm code"}))["hits"] == []

    with psycopg.connect(pgdb.owner_url) as owner:
        assert owner.execute("SELECT count(*) FROM jarvis.memories WHERE id = %s", (secret_id,)).fetchone()[0] == 1


def test_postgres_vectors_are_float32_bytes(pgdb, store, embedder) -> None:
    alice = store.user_for_identity("https://idp", f"alice-{uuid.uuid4()}", "google", None)
    vec = embedder.embed(["bytes check"])
    store.insert_memories(alice, [NewMemory("note", "bytes check", "bytes-check")], vec)
    with psycopg.connect(pgdb.owner_url) as owner:
        blob = owner.execute("SELECT embedding FROM jarvis.memories WHERE user_id = %s", (alice,)).fetchone()[0]
    assert np.array_equal(np.frombuffer(blob, np.float32), vec[0])
