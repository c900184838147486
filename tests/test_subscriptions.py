"""Resource subscriptions through real MCP clients: the capability, resources/subscribe on a 2025-11-25
session, subscriptions/listen on 2026-07-28, per user, and across two server processes over Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceUpdatedNotification
from servers import Server, http_server

from jarvis_mcp.config import Settings
from jarvis_mcp.events import Change
from jarvis_mcp.server import build_server
from jarvis_mcp.tokens import issue_token

OUTBOX = "jarvis://me/outbox"
WAIT_S = 10
SECRET = "subscriptions-secret-" + "x" * 32
EMAIL = {"to": ["ana@example.com"], "subject": "Hola", "body": "Una vez."}

# resources/subscribe is the 2025-11-25 way, which the SDK marks deprecated; serving it is the point here.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


class Updates:
    """A client's message handler that keeps every notifications/resources/updated it receives."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self._arrived = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            self.uris.append(str(message.params.uri))
            self._arrived.set()

    async def wait_for(self, uri: str) -> None:
        with anyio.fail_after(WAIT_S):
            while uri not in self.uris:
                self._arrived = anyio.Event()
                if uri in self.uris:
                    break
                await self._arrived.wait()


def ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    return result.structured_content


@pytest.fixture
def legacy_for(settings_for: Callable[..., Settings], embedder):
    """`async with legacy_for("alice") as (client, updates, server):` a 2025-11-25 session over memory streams."""

    @asynccontextmanager
    async def open_client(user: str) -> AsyncIterator[tuple[Client, Updates, Any]]:
        server = build_server(settings_for(user), embedder=embedder)
        updates = Updates()
        async with Client(server, mode="legacy", message_handler=updates) as client:
            yield client, updates, server

    return open_client


async def test_the_capability_is_declared_on_both_eras(legacy_for, client_for) -> None:
    async with legacy_for("alice") as (client, _, _):
        assert client.protocol_version == "2025-11-25"
        assert client.server_capabilities.resources.subscribe is True
    async with client_for("alice") as modern:
        assert modern.protocol_version == "2026-07-28"
        assert modern.server_capabilities.resources.subscribe is True


async def test_subscribed_to_the_outbox_a_legacy_client_hears_of_an_email(legacy_for) -> None:
    async with legacy_for("alice") as (client, updates, _):
        await client.subscribe_resource(OUTBOX)
        sent = ok(await client.call_tool("send_email", EMAIL))
        await updates.wait_for(OUTBOX)
        outbox = json.loads((await client.read_resource(OUTBOX)).contents[0].text)["actions"]
        assert outbox[0]["action_id"] == sent["action_id"]


async def test_one_action_is_watched_until_it_is_cancelled(legacy_for) -> None:
    async with legacy_for("alice") as (client, updates, _):
        ok(await client.call_tool("set_voice_key", {"phrase": "el loro canta a mediodía"}))
        pending = ok(await client.call_tool("forget", {"memory_ids": [f"m-{i}" for i in range(11)]}))
        uri = f"jarvis://me/actions/{pending['confirmation']['action_id']}"
        assert json.loads((await client.read_resource(uri)).contents[0].text)["status"] == "pending_confirmation"
        await client.subscribe_resource(uri)
        ok(await client.call_tool("cancel_action", {"action_id": pending["confirmation"]["action_id"]}))
        await updates.wait_for(uri)
        assert json.loads((await client.read_resource(uri)).contents[0].text)["status"] == "cancelled"


async def test_one_memory_is_watched_and_unsubscribing_stops_the_notices(legacy_for) -> None:
    async with legacy_for("alice") as (client, updates, _):
        memory_id = ok(await client.call_tool("remember", {"text": "La reunión con Bruno es el martes"}))["memory"]["id"]
        uri = f"jarvis://me/memories/{memory_id}"
        await client.subscribe_resource(uri)
        await client.subscribe_resource(OUTBOX)
        ok(await client.call_tool("forget", {"memory_ids": [memory_id]}))
        await updates.wait_for(uri)
        await client.unsubscribe_resource(OUTBOX)
        await client.unsubscribe_resource(OUTBOX)  # twice: harmless
        ok(await client.call_tool("send_email", EMAIL))  # the outbox changes, unwatched now
        other = ok(await client.call_tool("remember", {"text": "Ana prefers calls in the morning"}))["memory"]["id"]
        await client.subscribe_resource(f"jarvis://me/memories/{other}")
        ok(await client.call_tool("forget", {"memory_ids": [other]}))
        await updates.wait_for(f"jarvis://me/memories/{other}")  # arrives after the email's would have
        assert OUTBOX not in updates.uris


async def test_bad_uris_answer_as_a_read_does_and_watch_nothing(legacy_for) -> None:
    async with legacy_for("alice") as (client, updates, _):
        for uri in ("jarvis://me/memories/00000000-0000-0000-0000-000000000000", "jarvis://me/nothing-here"):
            with pytest.raises(MCPError) as subscribing:
                await client.subscribe_resource(uri)
            with pytest.raises(MCPError) as reading:
                await client.read_resource(uri)
            assert (subscribing.value.error.code, subscribing.value.error.message) == (
                reading.value.error.code, reading.value.error.message)


async def test_another_users_object_is_missing_and_their_changes_never_arrive(legacy_for) -> None:
    made_up = "00000000-0000-0000-0000-000000000000"
    async with legacy_for("bob") as (bob, _, _):
        bobs = ok(await bob.call_tool("remember", {"text": "Bob's boat is at pier 7"}))["memory"]["id"]
        async with legacy_for("alice") as (alice, updates, server):
            with pytest.raises(MCPError) as theirs:
                await alice.subscribe_resource(f"jarvis://me/memories/{bobs}")
            with pytest.raises(MCPError) as missing:
                await alice.subscribe_resource(f"jarvis://me/memories/{made_up}")
            assert theirs.value.error.code == missing.value.error.code
            assert theirs.value.error.message.replace(bobs, made_up) == missing.value.error.message
            await alice.subscribe_resource(OUTBOX)
            runtime = server.shared.runtime
            bob_id = runtime.store.user_for_identity("local", "bob", "local", None)
            assert bob_id != runtime.local_user_id()
            runtime.changes.publish(Change(bob_id, "outbox", "b-1"))  # bob's change, on alice's process bus
            marker = await _marker(alice, updates, alice)  # published after bob's: arrives after it would have
            assert OUTBOX not in updates.uris[:marker]


async def test_a_modern_client_listens_to_its_own_changes_only(client_for) -> None:
    async with client_for("alice") as client:
        memory_id = ok(await client.call_tool("remember", {"text": "Marca de control"}))["memory"]["id"]
        marker = f"jarvis://me/memories/{memory_id}"
        async with client.listen(resource_subscriptions=[OUTBOX, marker]) as sub:
            assert sub.honored.resource_subscriptions == [OUTBOX, marker]
            runtime = client.server.shared.runtime
            bob_id = runtime.store.user_for_identity("local", "bob", "local", None)
            runtime.changes.publish(Change(bob_id, "outbox", "b-1"))  # another user's, on this process's bus
            ok(await client.call_tool("forget", {"memory_ids": [memory_id]}))
            with anyio.fail_after(WAIT_S):
                first = await sub.__anext__()
            assert first.uri == marker  # bob's outbox change, published before, never reached this stream
            ok(await client.call_tool("send_email", EMAIL))
            with anyio.fail_after(WAIT_S):
                assert (await sub.__anext__()).uri == OUTBOX


async def test_a_failing_bus_never_fails_a_tool_call(legacy_for) -> None:
    class Broken:
        def publish(self, change: Change) -> None:
            raise ConnectionError("the bus is down")

    async with legacy_for("alice") as (client, _, server):
        server.shared.runtime.changes = Broken()
        assert ok(await client.call_tool("remember", {"text": "El bus de cambios está caído"}))["memory"]["id"]
        assert ok(await client.call_tool("send_email", EMAIL))["action_id"]


# -- over HTTP: one process with two users, and two processes sharing Redis ---------------------------


def _token(subject: str) -> str:
    return issue_token(Settings(jwt_secret=SECRET), subject=subject)


@asynccontextmanager
async def http_client(server: Server, subject: str, updates: Updates | None = None) -> AsyncIterator[Client]:
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {_token(subject)}"}, timeout=30)
    async with http, Client(streamable_http_client(server.mcp_url, http_client=http), mode="legacy",
                            message_handler=updates) as client:
        yield client


@pytest.fixture
def pair(tmp_path: Path, redis_prefix: str):
    """Two server processes on one store (the same home) and one Redis (this test's prefix)."""
    env = {"JARVIS_JWT_SECRET": SECRET, "JARVIS_REDIS_URL": "redis://127.0.0.1:6379/0",
           "JARVIS_REDIS_PREFIX": redis_prefix}
    home = tmp_path / "shared-home"
    with ExitStack() as stack:
        a = stack.enter_context(http_server(env, home=home))
        b = stack.enter_context(http_server(env, home=home))
        yield a, b


async def _marker(subscriber: Client, updates: Updates, maker: Client) -> int:
    """A memory made and forgotten through `maker`, watched by `subscriber`: once its notice arrives, every
    notice published before it has arrived too (one channel, read in order). How many notices came before."""
    memory_id = ok(await maker.call_tool("remember", {"text": "Marca de control para la prueba"}))["memory"]["id"]
    uri = f"jarvis://me/memories/{memory_id}"
    await subscriber.subscribe_resource(uri)
    ok(await maker.call_tool("forget", {"memory_ids": [memory_id]}))
    await updates.wait_for(uri)
    return updates.uris.index(uri)


async def test_a_change_made_in_another_process_reaches_only_its_user(pair: tuple[Server, Server]) -> None:
    a, b = pair
    alice_updates, bob_updates = Updates(), Updates()
    async with (http_client(a, "alice", alice_updates) as alice, http_client(a, "bob", bob_updates) as bob,
                http_client(b, "alice") as alice_on_b, http_client(b, "bob") as bob_on_b):
        await alice.subscribe_resource(OUTBOX)
        await bob.subscribe_resource(OUTBOX)
        ok(await alice_on_b.call_tool("send_email", EMAIL))  # made in process B...
        await alice_updates.wait_for(OUTBOX)  # ...heard in process A
        settled = await _marker(alice, alice_updates, alice_on_b)
        ok(await bob_on_b.call_tool("send_email", {**EMAIL, "subject": "Bob"}))
        await bob_updates.wait_for(OUTBOX)
        after = await _marker(alice, alice_updates, alice_on_b)
        assert OUTBOX not in alice_updates.uris[settled + 1:after]  # bob's email told alice nothing
