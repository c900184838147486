"""The change bus: in-process and over a real Redis, per user, never failing the publisher; and the store
view that publishes a user's watched writes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from jarvis_mcp.adapters.redis_events import RedisChangeBus, decode, encode
from jarvis_mcp.events import Change, ChangeBus, InProcessChangeBus, NoticingStore, publish_quietly, uris_for

WAIT_S = 5


async def _next(changes: AsyncIterator[Change]) -> Change:
    return await asyncio.wait_for(changes.__anext__(), WAIT_S)


async def _per_user_order(bus: ChangeBus) -> None:
    """B's change never reaches A; A's arrive in order, from this thread and from a worker thread."""
    async with bus.subscribe("alice") as mine, bus.subscribe("alice") as second:
        bus.publish(Change("bob", "outbox", "b-1"))
        bus.publish(Change("alice", "outbox", "a-1"))
        # Services publish from the SDK's worker threads.
        await asyncio.to_thread(bus.publish, Change("alice", "memories", "m-1"))
        assert await _next(mine) == Change("alice", "outbox", "a-1")  # bob's came first and was not delivered
        assert await _next(mine) == Change("alice", "memories", "m-1")
        assert await _next(second) == Change("alice", "outbox", "a-1")  # every watcher of alice hears it


async def test_in_process_bus_is_per_user() -> None:
    await _per_user_order(InProcessChangeBus())


async def test_after_leaving_a_watcher_hears_nothing_and_publishing_still_works() -> None:
    bus = InProcessChangeBus()
    async with bus.subscribe("alice") as changes:
        pass
    bus.publish(Change("alice", "outbox"))  # no watcher: a no-op, not an error
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(changes.__anext__(), 0.2)


def test_publishing_never_raises() -> None:
    class Broken:
        def publish(self, change: Change) -> None:
            raise RuntimeError("down")

    publish_quietly(Broken(), "alice", "outbox", "x")  # type: ignore[arg-type]
    publish_quietly(None, "alice", "outbox", "x")


def test_uris_told_for_each_topic() -> None:
    assert uris_for(Change("u", "outbox", "a1")) >= {"jarvis://me/outbox", "jarvis://me/actions/a1"}
    assert "jarvis://me/memories/m1" in uris_for(Change("u", "memories", "m1"))
    assert uris_for(Change("u", "documents")) == {"jarvis://me/documents"}
    assert uris_for(Change("u", "contacts", "c1")) == {"jarvis://me/contacts", "jarvis://me/contacts/c1"}
    assert uris_for(Change("u", "identities")) == frozenset()


def test_noticing_store_tells_only_real_changes_of_its_user() -> None:
    told: list[Change] = []

    class Bus:
        def publish(self, change: Change) -> None:
            told.append(change)

    class Store:
        def outbox_transition(self, user_id: str, action_id: str, *rest: Any) -> Any:
            return None if action_id == "lost-race" else SimpleNamespace(id=action_id)

        def outbox_claim(self, user_id: str, new: Any, window: float) -> Any:
            return SimpleNamespace(id=new), new != "replay"

        def insert_memories(self, user_id: str, items: Any, vectors: Any) -> Any:
            return [SimpleNamespace(id="m-1")]

        def outbox_list(self, user_id: str, limit: int) -> list[str]:
            return ["read"]

    store = NoticingStore(Store(), "alice", Bus())  # type: ignore[arg-type]
    store.outbox_transition("alice", "a-1", ["queued"], "sending")
    store.outbox_transition("alice", "lost-race", ["queued"], "sending")  # nothing changed: quiet
    store.outbox_claim("alice", "a-2", 60)
    store.outbox_claim("alice", "replay", 60)  # a replayed claim changed nothing: quiet
    store.outbox_transition("bob", "b-1", ["queued"], "sending")  # not this scope's user: never told as alice
    store.insert_memories("alice", ["x"], None)
    assert store.outbox_list("alice", 5) == ["read"]  # reads pass through, untold
    assert told == [Change("alice", "outbox", "a-1"), Change("alice", "outbox", "a-2"),
                    Change("alice", "memories", "m-1")]


def test_wire_form_round_trips_and_rejects_garbage() -> None:
    change = Change("alice", "outbox", "a-1")
    assert decode(encode(change)) == change
    assert decode(encode(Change("alice", "profile"))) == Change("alice", "profile")
    assert decode(b"not json") is None and decode(b'{"t": "outbox"}') is None


# -- the real Redis (tests/redis_support.py: own prefix, cleaned up) ----------------------------------


@pytest.fixture
def redis_bus(redis_client: redis.Redis, redis_prefix: str):
    buses: list[RedisChangeBus] = []

    def make() -> RedisChangeBus:
        bus = RedisChangeBus(redis.Redis(connection_pool=redis_client.connection_pool), redis_prefix)
        assert bus.wait_listening()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        bus.close()


async def test_redis_bus_is_per_user(redis_bus) -> None:
    await _per_user_order(redis_bus())


async def test_a_change_published_on_one_bus_reaches_another(redis_bus, redis_client: redis.Redis,
                                                              redis_prefix: str) -> None:
    """Two buses are two server processes: what one publishes, the other's watchers hear."""
    here, there = redis_bus(), redis_bus()
    async with there.subscribe("alice") as changes:
        here.publish(Change("alice", "outbox", "a-9"))
        assert await _next(changes) == Change("alice", "outbox", "a-9")
    assert redis_client.pubsub_numsub(f"{redis_prefix}:changes")[0][1] == 2  # both listen on the prefix's channel


def test_publishing_to_an_unreachable_redis_returns_at_once() -> None:
    """Redis away: publish() only queues, so a tool call is never held up; the sender drops notices."""
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    bus = RedisChangeBus(dead, "jarvis-test-dead")
    try:
        done = threading.Event()

        def burst() -> None:
            for i in range(20_000):  # past the queue's bound: the rest are dropped, not waited for
                bus.publish(Change("alice", "outbox", str(i)))
            done.set()

        worker = threading.Thread(target=burst)
        worker.start()
        assert done.wait(WAIT_S)
        worker.join()
    finally:
        bus.close()
