"""The sign-in data on both stores (SQLite embedded, Postgres hosted): single use that holds under
concurrent threads, token families, sessions, linking and unlinking; and on Postgres, Row Level Security
with the app role reaching user rows only through the definer functions."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgtest import PgDatabase, fresh_database, system_cluster

from jarvis_mcp.identity.ports import GrantRecord, SessionRecord, TokenRecord

NOW = time.time()


@pytest.fixture(scope="module")
def pgdb() -> Iterator[PgDatabase]:
    with fresh_database(system_cluster()) as db:
        yield db


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        from jarvis_mcp.adapters.sqlite import SqliteStore

        s: Any = SqliteStore(tmp_path / "db.sqlite")
    else:
        from jarvis_mcp.adapters.postgres import open_postgres

        pgdb = request.getfixturevalue("pgdb")
        s, _ = open_postgres(pgdb.app_url, vector_index="numpy", pool_size=8)
    yield s
    s.close()


def new_user(store: Any, tag: str = "u") -> str:
    return str(store.user_for_identity("email", f"{tag}-{uuid.uuid4().hex[:8]}@example.com", "email", None))


def race(n: int, fn: Callable[[], Any]) -> list[Any]:
    """fn run by n threads released together; what each returned."""
    barrier = threading.Barrier(n)
    out: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        value = fn()
        with lock:
            out.append(value)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_a_code_is_consumed_once_under_concurrency(store: Any) -> None:
    user = new_user(store)
    h = uuid.uuid4().hex
    store.put_grant(GrantRecord(h, "code", "client-1", user, '{"x": 1}', time.time() + 60))
    assert store.get_grant(h, "code", time.time()).user_id == user
    got = race(8, lambda: store.consume_grant(h, "code", time.time()))
    assert len([g for g in got if g is not None]) == 1
    assert store.get_grant(h, "code", time.time()) is None
    assert store.get_grant(h, "request", time.time()) is None  # a code is never a request


def test_an_expired_grant_is_neither_read_nor_used(store: Any) -> None:
    h = uuid.uuid4().hex
    store.put_grant(GrantRecord(h, "request", "client-1", None, "{}", time.time() - 1))
    assert store.get_grant(h, "request", time.time()) is None
    assert store.consume_grant(h, "request", time.time()) is None


def test_refresh_rotation_is_atomic_and_families_revoke_together(store: Any) -> None:
    user = new_user(store)
    family = uuid.uuid4().hex
    access, refresh = uuid.uuid4().hex, uuid.uuid4().hex
    store.add_tokens([TokenRecord(access, "access", family, user, "c", "jarvis:read", "r", time.time() + 600),
                      TokenRecord(refresh, "refresh", family, user, "c", "jarvis:read", "r", time.time() + 600)],
                     time.time())
    assert store.get_token(access).user_id == user
    got = race(8, lambda: store.consume_refresh(refresh, time.time()))
    assert len([g for g in got if g is not None]) == 1
    assert store.get_token(refresh).used_at is not None
    assert store.consume_refresh(access, time.time()) is None  # an access token is never a refresh token
    assert store.revoke_family(family, time.time()) == 2
    assert store.get_token(access).revoked_at is not None
    assert store.revoke_family(family, time.time()) == 0


def test_sessions(store: Any) -> None:
    user = new_user(store)
    h = uuid.uuid4().hex
    signed_in = time.time() - 30
    store.put_session(h, SessionRecord(user, "email", time.time() + 60), signed_in)
    # signed_in_at: when the session was made (its sign-in), which /app/approvals asks to be recent.
    assert store.get_session(h, time.time()) == SessionRecord(user, "email", pytest.approx(time.time() + 60, abs=5),
                                                              pytest.approx(signed_in, abs=0.01))
    store.revoke_session(h, time.time())
    assert store.get_session(h, time.time()) is None
    old = uuid.uuid4().hex
    store.put_session(old, SessionRecord(user, "email", time.time() - 1), time.time())
    assert store.get_session(old, time.time()) is None


def test_a_sign_in_link_is_used_once_under_concurrency(store: Any) -> None:
    h = uuid.uuid4().hex
    store.put_sign_in_token(h, "email", '{"email": "a@example.com"}', time.time() + 600, time.time())
    assert store.consume_sign_in_token(h, "nonce:wallet", time.time()) is None  # another purpose
    got = race(8, lambda: store.consume_sign_in_token(h, "email", time.time()))
    assert got.count('{"email": "a@example.com"}') == 1 and got.count(None) == 7


def test_link_and_unlink(store: Any) -> None:
    ana, bob = new_user(store, "ana"), new_user(store, "bob")
    wallet = "0x" + uuid.uuid4().hex[:8] * 5
    assert store.link_identity(ana, "eip155:1", wallet, "wallet", None) == ana
    assert store.link_identity(bob, "eip155:1", wallet, "wallet", None) == ana  # never moved to Bob
    assert {i.auth_method for i in store.list_identities(ana)} == {"email", "wallet"}
    assert [i.auth_method for i in store.list_identities(bob)] == ["email"]
    assert store.unlink_identity(bob, "eip155:1", wallet) == "missing"  # not his
    assert store.unlink_identity(ana, "eip155:1", wallet) == "unlinked"
    only = store.list_identities(ana)[0]
    assert store.unlink_identity(ana, only.issuer, only.subject) == "last"
    assert len(store.list_identities(ana)) == 1


def test_two_unlinks_at_once_never_remove_the_last(store: Any) -> None:
    ana = new_user(store, "ana")
    store.link_identity(ana, "telegram", uuid.uuid4().hex, "telegram", None)
    first, second = store.list_identities(ana)
    got = race(2, lambda: [store.unlink_identity(ana, first.issuer, first.subject),
                           store.unlink_identity(ana, second.issuer, second.subject)])
    assert len(store.list_identities(ana)) == 1
    assert sum(r.count("unlinked") for r in got) == 1


def test_dcr_clients(store: Any) -> None:
    cid = uuid.uuid4().hex
    store.put_oauth_client(cid, '{"client_id": "x"}')
    assert store.get_oauth_client(cid) == '{"client_id": "x"}'
    assert store.get_oauth_client("nope") is None


def test_purge_forgets_long_expired_rows(store: Any) -> None:
    h = uuid.uuid4().hex
    store.put_sign_in_token(h, "email", "{}", time.time() - 2 * 86400, time.time() - 3 * 86400)
    assert store.purge_auth(time.time()) >= 1
    assert store.consume_sign_in_token(h, "email", time.time() - 3 * 86400) is None


# -- Postgres: Row Level Security and the app role ----------------------------------------------------


def test_the_app_role_sees_only_its_claimed_users_tokens_and_changes_none(pgdb: PgDatabase) -> None:
    import json

    from jarvis_mcp.adapters.postgres import open_postgres

    store, _ = open_postgres(pgdb.app_url, vector_index="numpy", pool_size=2)
    try:
        ana, bob = new_user(store, "ana"), new_user(store, "bob")
        store.add_tokens([TokenRecord(uuid.uuid4().hex, "access", "f", ana, "c", "", "r", time.time() + 60)],
                         time.time())
        store.put_session(uuid.uuid4().hex, SessionRecord(ana, "email", time.time() + 60), time.time())
    finally:
        store.close()
    with psycopg.connect(pgdb.app_url) as conn:
        for claims, expected in ((None, 0), (bob, 0), (ana, 1)):
            if claims:
                conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": claims}),))
            for table in ("oauth_tokens", "web_sessions"):
                assert conn.execute(f"SELECT count(*) FROM jarvis.{table}").fetchone()[0] == expected, (claims, table)
            conn.rollback()
        for statement in ("UPDATE jarvis.oauth_tokens SET revoked_at = NULL", "DELETE FROM jarvis.web_sessions",
                          "INSERT INTO jarvis.oauth_grants VALUES ('h', 'code', 'c', NULL, '{}', 0, NULL)",
                          "DELETE FROM jarvis.identities"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
    with psycopg.connect(pgdb.owner_url) as conn:
        rls = dict(conn.execute("SELECT relname, relrowsecurity FROM pg_class WHERE relname IN "
                                "('oauth_tokens', 'oauth_grants', 'web_sessions')").fetchall())
    assert rls == {"oauth_tokens": True, "oauth_grants": True, "web_sessions": True}
