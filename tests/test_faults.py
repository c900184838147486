"""Injected faults: Postgres connections cut under the server, Redis going away while serving, SIGTERM with
a call in flight. Each answer is either right or honest: never `internal error`, never a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2 as httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from pgtest import PgDatabase, fresh_database, system_cluster
from redis_support import REDIS_URL
from servers import free_port, http_server

from jarvis_mcp.adapters import redis_backend
from jarvis_mcp.adapters.postgres import PostgresStore, open_postgres
from jarvis_mcp.adapters.postgres.database import ConnectionDropped, Database, retry_reads
from jarvis_mcp.memory.ports import NewMemory

# -- Postgres: connections cut under the pool ------------------------------------------------------


@pytest.fixture(scope="module")
def pgdb() -> Iterator[PgDatabase]:
    with fresh_database(system_cluster()) as db:
        yield db


@pytest.fixture
def store(pgdb: PgDatabase, embedder) -> Iterator[PostgresStore]:
    s, _ = open_postgres(pgdb.app_url, vector_index="numpy", pool_size=3)
    s.ensure_embedding_model(embedder.model_id, embedder.dim)
    yield s
    s.close()


def terminate(pgdb: PgDatabase, pid: int | None = None) -> int:
    """What a restart or failover does to the server's connections (waits until they are gone)."""
    with psycopg.connect(pgdb.owner_url, autocommit=True) as su:
        return int(su.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE usename = %s "
            "AND (%s::int IS NULL OR pid = %s)", (pgdb.app_role, pid, pid)).fetchone()[0])


def cut_transactions(monkeypatch: pytest.MonkeyPatch, store: PostgresStore, pgdb: PgDatabase, *, times: int = 1,
                     write: bool | None = None, at: str = "start") -> list[str]:
    """Cut the connection of the next `times` transactions (only writes or reads if `write` says so), once
    their claims are set: at="start" before the first statement of their own, at="commit" as they commit.
    Returns the kinds of the transactions cut."""
    db = store.db
    begin = db._begin
    cut: list[str] = []

    def cutting(user_claims: str | None, write_tx: bool) -> psycopg.Connection:
        conn = begin(user_claims, write_tx)
        if len(cut) < times and user_claims is not None and write in (None, write_tx):
            cut.append("write" if write_tx else "read")
            if at == "start":
                terminate(pgdb, conn.info.backend_pid)
            else:
                commit = conn.commit

                def commit_after_cut() -> None:
                    del conn.commit  # the pool's next user gets the real one (if the connection survived)
                    terminate(pgdb, conn.info.backend_pid)
                    commit()

                conn.commit = commit_after_cut  # type: ignore[method-assign]
        return conn

    monkeypatch.setattr(db, "_begin", cutting)
    return cut


def remember(store: PostgresStore, embedder, user: str, text: str) -> None:
    store.insert_memories(user, [NewMemory("note", text, f"h-{uuid.uuid4()}")], embedder.embed([text]))


def test_a_read_after_the_servers_connections_are_terminated_succeeds(pgdb, store, embedder) -> None:
    user = store.user_for_identity("https://idp", f"u-{uuid.uuid4()}", "google", None)
    remember(store, embedder, user, "the boiler code is 2291")
    assert terminate(pgdb) >= 1
    assert store.count_memories(user) == 1  # was AdminShutdown -> internal error
    remember(store, embedder, user, "a write after the cut works too")
    assert store.count_memories(user) == 2


def test_a_read_cut_mid_transaction_runs_again(pgdb, store, embedder, monkeypatch, caplog) -> None:
    user = store.user_for_identity("https://idp", f"u-{uuid.uuid4()}", "google", None)
    remember(store, embedder, user, "passport renewal in May")
    cut = cut_transactions(monkeypatch, store, pgdb, write=False)
    with caplog.at_level(logging.WARNING):
        assert [m.text for m in store.recent_memories(user, 10)] == ["passport renewal in May"]
    assert cut == ["read"] and "running it again" in caplog.text


def test_a_read_whose_commit_is_cut_keeps_its_rows(pgdb, store, embedder, monkeypatch) -> None:
    user = store.user_for_identity("https://idp", f"u-{uuid.uuid4()}", "google", None)
    remember(store, embedder, user, "dentist on Tuesday")
    cut = cut_transactions(monkeypatch, store, pgdb, write=False, at="commit")
    assert store.count_memories(user) == 1
    assert cut == ["read"]


def test_a_read_cut_twice_says_nothing_changed(pgdb, store, monkeypatch) -> None:
    user = store.user_for_identity("https://idp", f"u-{uuid.uuid4()}", "google", None)
    cut_transactions(monkeypatch, store, pgdb, times=2, write=False)
    with pytest.raises(ConnectionDropped, match="nothing was changed") as raised:
        store.count_memories(user)
    assert not raised.value.maybe_saved


@pytest.mark.parametrize("at", ["start", "commit"])
def test_a_write_cut_mid_transaction_is_an_honest_error_and_never_a_duplicate(
    pgdb, store, embedder, monkeypatch, at: str
) -> None:
    user = store.user_for_identity("https://idp", f"u-{uuid.uuid4()}", "google", None)
    cut = cut_transactions(monkeypatch, store, pgdb, write=True, at=at)
    with pytest.raises(ConnectionDropped, match="may or may not have been saved") as raised:
        remember(store, embedder, user, "call the plumber")
    assert raised.value.maybe_saved and cut == ["write"]
    # Not run again behind the caller's back: whatever Postgres kept, it is at most once.
    assert store.count_memories(user) <= 1


def test_a_read_is_not_run_again_once_a_write_of_the_same_call_committed(pgdb, store, monkeypatch) -> None:
    @retry_reads
    class Steps:
        def __init__(self, db: Database) -> None:
            self.db = db
            self.runs = 0

        def rename_then_read(self, user: str) -> str:
            self.runs += 1
            with self.db.session(user) as conn:
                conn.execute("UPDATE jarvis.users SET name = 'Ana' WHERE id = %s", (user,))
            with self.db.read(user) as conn:
                return str(conn.execute("SELECT name FROM jarvis.users WHERE id = %s", (user,)).fetchone()[0])

    user = store.user_for_identity("https://idp", f"u-{uuid.uuid4()}", "google", None)
    steps = Steps(store.db)
    assert steps.rename_then_read(user) == "Ana" and steps.runs == 1
    cut = cut_transactions(monkeypatch, store, pgdb, write=False)
    with pytest.raises(ConnectionDropped, match="may or may not have been saved"):
        steps.rename_then_read(user)
    assert cut == ["read"] and steps.runs == 2  # once more, for the cut call: not a third time


async def test_over_mcp_a_cut_write_answers_honestly_and_reads_recover(pgdb, client_for, monkeypatch) -> None:
    from jarvis_mcp.adapters.postgres import database

    pg = {"store": "postgres", "database_url": pgdb.app_url}
    real_begin = database.Database._begin
    armed: list[bool] = []

    def begin(self, user_claims, write):  # noqa: ANN001, ANN202
        conn = real_begin(self, user_claims, write)
        if armed and write and user_claims is not None:
            armed.clear()
            terminate(pgdb, conn.info.backend_pid)
        return conn

    monkeypatch.setattr(database.Database, "_begin", begin)
    async with client_for(f"ana-{uuid.uuid4().hex[:6]}", **pg) as c:
        first = await c.call_tool("remember", {"text": "The gate code is 5530"})
        assert not first.is_error, first.content[0].text
        assert terminate(pgdb) >= 1
        listed = await c.call_tool("search_memory", {"query": "gate code"})
        assert not listed.is_error, listed.content[0].text  # was: internal error
        armed.append(True)
        cut = await c.call_tool("remember", {"text": "The shed key is under the pot"})
        assert cut.is_error and "may or may not have been saved" in cut.content[0].text
        assert "internal error" not in cut.content[0].text
        again = await c.call_tool("remember", {"text": "The shed key is under the pot"})
        assert not again.is_error, again.content[0].text
    with psycopg.connect(pgdb.owner_url) as owner:
        assert owner.execute("SELECT count(*) FROM jarvis.memories WHERE text LIKE 'The shed key%'").fetchone()[0] == 1


# -- Redis going away while serving ----------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:<port> -> Redis, which a test can take away and bring back without touching Redis."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def start(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self) -> None:
        for s in [self.listener, *self.sockets]:
            if s is not None:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
        self.sockets.clear()
        self.listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()


@pytest.fixture
def redis_proxy(redis_client) -> Iterator[TcpProxy]:  # noqa: ANN001 - redis_client: skips without Redis
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    proxy.start()
    yield proxy
    proxy.stop()


async def test_redis_going_away_while_serving_is_a_warning_and_calls_go_on(
    client_for, redis_proxy: TcpProxy, redis_prefix: str, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(redis_backend, "BREAK_SECONDS", 0.2)
    settings = {"redis_url": f"redis://127.0.0.1:{redis_proxy.port}/0", "redis_prefix": redis_prefix,
                "default_tier": "free"}  # limits to enforce, so the limiter talks to Redis
    async with client_for("erin", **settings) as c:
        assert not (await c.call_tool("remember", {"text": "Erin's bike is blue"})).is_error
        redis_proxy.stop()
        with caplog.at_level(logging.WARNING, logger="jarvis_mcp.adapters.redis_backend"):
            for _ in range(3):  # said once per outage, not once per call
                hits = await c.call_tool("search_memory", {"query": "bike colour"})
                assert not hits.is_error, hits.content[0].text
        down = [r for r in caplog.records if r.name == "jarvis_mcp.adapters.redis_backend"]
        assert {r.levelno for r in down} == {logging.WARNING}
        text = "\n".join(r.getMessage() for r in down)
        assert f"Redis at 127.0.0.1:{redis_proxy.port}/0 is unreachable" in text
        assert "usage limits are not enforced" in text and "the cache is bypassed" in text
        assert len(down) == 2, text  # the limiter's line and the cache's line
        caplog.clear()
        redis_proxy.start()
        await anyio.sleep(0.3)
        with caplog.at_level(logging.WARNING, logger="jarvis_mcp.adapters.redis_backend"):
            assert not (await c.call_tool("search_memory", {"query": "bike"})).is_error
        assert "usage limits are enforced again" in caplog.text and "answers again" in caplog.text


# -- SIGTERM with a call in flight -----------------------------------------------------------------


class SlowInbox:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.received: list[Any] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        await asyncio.sleep(self.seconds)
        self.received.append(envelope)
        return "250 2.0.0 queued"


@pytest.fixture
def slow_smtp() -> Iterator[Any]:
    started: list[Controller] = []

    def start(seconds: float) -> tuple[SlowInbox, dict[str, str]]:
        inbox, port = SlowInbox(seconds), free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return inbox, {"JARVIS_MAILER": "smtp", "JARVIS_SMTP_HOST": "127.0.0.1", "JARVIS_SMTP_PORT": str(port),
                       "JARVIS_SMTP_SECURITY": "none", "JARVIS_SMTP_FROM": "me@example.org"}

    yield start
    for controller in started:
        controller.stop()


def _client(base: str, http: httpx.AsyncClient, transport: str) -> Client:
    if transport == "sse":  # legacy HTTP+SSE: the answer travels on the GET stream
        return Client(sse_client(f"{base}/sse", timeout=10), mode="legacy")
    # legacy: a session with its event streams; auto: the 2026 protocol, one POST per call
    return Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=transport)


async def _stop_after(proc: Any, delay: float) -> float:
    """SIGTERM after delay; how long the process then took to exit."""
    await anyio.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await anyio.to_thread.run_sync(proc.wait)
    return time.monotonic() - sent


@pytest.mark.parametrize("transport", ["legacy", "sse", "auto"])
async def test_sigterm_lets_a_send_in_flight_answer(slow_smtp, transport: str) -> None:
    inbox, env = slow_smtp(2.0)
    with http_server(env) as server:
        async with httpx.AsyncClient(timeout=30) as http, _client(server.base, http, transport) as c:
            saved = await c.call_tool("save_contact", {"name": "Ana", "emails": ["ana@example.com"]})
            assert not saved.is_error, saved.content[0].text  # a contact: no confirmation needed
            exit_after: list[float] = []

            async def stop() -> None:
                exit_after.append(await _stop_after(server.proc, 0.5))

            async with anyio.create_task_group() as tg:
                tg.start_soon(stop)
                with anyio.fail_after(20):
                    sent = await c.call_tool("send_email", {"to": ["ana@example.com"], "subject": "Hi", "body": "x"})
        assert not sent.is_error, sent.content[0].text  # was: "SSE stream ended without a response"
        assert json.loads(sent.content[0].text)["status"] == "sent"
        assert len(inbox.received) == 1
        assert exit_after[0] < 10, exit_after


async def test_sigterm_waits_for_no_idle_stream_and_at_most_the_grace(slow_smtp) -> None:
    inbox, env = slow_smtp(30.0)
    with http_server({**env, "JARVIS_SHUTDOWN_GRACE_SECONDS": "1.5"}) as server:
        async with (httpx.AsyncClient(timeout=30) as http, _client(server.base, http, "legacy") as idle,
                    _client(server.base, http, "sse") as busy):
            assert not (await idle.call_tool("save_contact", {"name": "Ana", "emails": ["ana@example.com"]})).is_error
            async with anyio.create_task_group() as tg:
                async def send() -> None:
                    with pytest.raises(Exception):  # noqa: B017 - cut at the grace, however the client says it
                        await busy.call_tool("send_email", {"to": ["ana@example.com"], "subject": "Hi", "body": "x"})

                tg.start_soon(send)
                took = await _stop_after(server.proc, 0.5)
    assert 1.0 < took < 6, took  # the grace, and not the 30 s send nor an idle stream's lifetime


async def test_sigterm_with_only_idle_streams_exits_at_once(slow_smtp) -> None:
    with http_server({"JARVIS_SHUTDOWN_GRACE_SECONDS": "30"}) as server:
        async with (httpx.AsyncClient(timeout=30) as http, _client(server.base, http, "legacy") as a,
                    _client(server.base, http, "sse") as b):
            assert not (await a.call_tool("get_profile", {})).is_error
            assert not (await b.call_tool("get_profile", {})).is_error
            took = await _stop_after(server.proc, 0)
    assert took < 5, took
