"""Two stateless server processes on two ports, one Postgres and one Redis: the same user gets the same
answers from either process, and limits are shared between them (nothing that matters lives in memory)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx2 as httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pgtest import PgDatabase, fresh_database, system_cluster
from servers import Server, http_server

from jarvis_mcp.config import Settings
from jarvis_mcp.tokens import issue_token

SECRET = "two-process-secret-" + "x" * 32


@pytest.fixture(scope="module")
def database() -> Iterator[PgDatabase]:
    with fresh_database(system_cluster()) as db:
        yield db


@pytest.fixture
def servers(database: PgDatabase, redis_prefix: str) -> Iterator[tuple[Server, Server]]:
    env = {
        "JARVIS_STORE": "postgres", "JARVIS_DATABASE_URL": database.app_url,
        "JARVIS_REDIS_URL": "redis://127.0.0.1:6379/0", "JARVIS_REDIS_PREFIX": redis_prefix,
        "JARVIS_JWT_SECRET": SECRET, "JARVIS_DEFAULT_TIER": "free",
        # A daily window: a per-minute one could roll over between the calls and make the test flaky.
        "JARVIS_TIERS": '{"free": {"write": {"daily": 3}}}',
    }
    with ExitStack() as stack:
        a = stack.enter_context(http_server(env, args=["--stateless"]))
        b = stack.enter_context(http_server(env, args=["--stateless"]))
        yield a, b


def _token(subject: str) -> str:
    return issue_token(Settings(jwt_secret=SECRET), subject=subject)


async def _call(server: Server, subject: str, tool: str, args: dict) -> tuple[bool, dict | str]:
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {_token(subject)}"}, timeout=30)
    async with http, Client(streamable_http_client(server.mcp_url, http_client=http)) as client:
        result = await client.call_tool(tool, args)
    return result.is_error, (result.content[0].text if result.is_error else result.structured_content)


async def test_either_process_answers_the_same(servers: tuple[Server, Server]) -> None:
    a, b = servers
    failed, stored = await _call(a, "alice", "remember", {"text": "The boat is moored at pier 7 in Valencia"})
    assert not failed
    memory_id = stored["memory"]["id"]  # type: ignore[index]
    answers = []
    for server in (a, b):
        failed, found = await _call(server, "alice", "search_memory", {"query": "where is the boat?"})
        assert not failed
        answers.append([(h["id"], h["text"]) for h in found["hits"]])  # type: ignore[index]
    assert answers[0] == answers[1] and answers[0][0][0] == memory_id
    # The other process must see a write made here, at once: no per-process copy to go stale.
    failed, _ = await _call(b, "alice", "forget", {"memory_ids": [memory_id]})
    assert not failed
    failed, found = await _call(a, "alice", "search_memory", {"query": "where is the boat?"})
    assert not failed and all(h["id"] != memory_id for h in found["hits"])  # type: ignore[index]
    # And another user, on either process, sees nothing of alice's.
    await _call(a, "alice", "remember", {"text": "Alice's locker code hint: the blue door"})
    for server in (a, b):
        failed, found = await _call(server, "bob", "search_memory", {"query": "locker code"})
        assert not failed and found["hits"] == []  # type: ignore[index]


async def test_limits_are_shared_between_processes(servers: tuple[Server, Server]) -> None:
    a, b = servers
    outcomes = []
    for server in (a, b, a, b):
        failed, answer = await _call(server, "carol", "remember", {"text": f"note {len(outcomes)} for carol"})
        outcomes.append((failed, answer))
    assert [failed for failed, _ in outcomes] == [False, False, False, True]
    message = outcomes[3][1]
    assert isinstance(message, str) and "daily limit of 3" in message and "resets at" in message
