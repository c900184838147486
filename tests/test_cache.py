"""The Cache contract, over every adapter: in-process and Redis."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from jarvis_mcp.adapters.local_cache import LocalCache
from jarvis_mcp.adapters.redis_backend import RedisCache, client_for, connect
from jarvis_mcp.config import ConfigError
from jarvis_mcp.ports import Cache

ALICE = str(uuid.uuid4())
BOB = str(uuid.uuid4())


@pytest.fixture(params=["local", "redis"])
def make_cache(request: pytest.FixtureRequest) -> Iterator[Callable[[], Cache]]:
    """A factory: two caches from one factory share their backend, as two server processes would."""
    if request.param == "local":
        shared = LocalCache()
        yield lambda: shared
    else:
        client = request.getfixturevalue("redis_client")
        prefix = request.getfixturevalue("redis_prefix")
        yield lambda: RedisCache(client, prefix)


def test_set_get_and_miss(make_cache: Callable[[], Cache]) -> None:
    cache = make_cache()
    assert cache.get(ALICE, "k") is None
    cache.set(ALICE, "k", b"\x00value\xff", 60)
    assert cache.get(ALICE, "k") == b"\x00value\xff"
    cache.set(ALICE, "k", b"newer", 60)
    assert cache.get(ALICE, "k") == b"newer"


def test_values_expire(make_cache: Callable[[], Cache]) -> None:
    cache = make_cache()
    cache.set(ALICE, "short", b"x", 0.15)
    cache.set(ALICE, "long", b"y", 60)
    cache.set(ALICE, "never", b"z", 0)  # a TTL of zero stores nothing
    assert cache.get(ALICE, "short") == b"x"
    time.sleep(0.3)
    assert cache.get(ALICE, "short") is None
    assert cache.get(ALICE, "long") == b"y"
    assert cache.get(ALICE, "never") is None


def test_keys_are_per_user(make_cache: Callable[[], Cache]) -> None:
    cache = make_cache()
    cache.set(ALICE, "search:abc", b"alice's result", 60)
    assert cache.get(BOB, "search:abc") is None
    cache.set(BOB, "search:abc", b"bob's result", 60)
    assert cache.get(ALICE, "search:abc") == b"alice's result"
    assert cache.incr(ALICE, "search_hits") == 1
    assert cache.incr(BOB, "search_hits", 0) == 0


def test_counters(make_cache: Callable[[], Cache]) -> None:
    cache = make_cache()
    assert cache.incr(ALICE, "hits", 0) == 0
    assert cache.incr(ALICE, "hits") == 1
    assert cache.incr(ALICE, "hits", 5) == 6
    assert cache.incr(ALICE, "hits", 0) == 6
    assert cache.incr(ALICE, "misses", 0) == 0


def test_shared_between_instances(make_cache: Callable[[], Cache]) -> None:
    one, two = make_cache(), make_cache()
    one.set(ALICE, "k", b"v", 60)
    one.incr(ALICE, "n", 2)
    assert two.get(ALICE, "k") == b"v"
    assert two.incr(ALICE, "n") == 3


def test_concurrent_counting_loses_nothing(make_cache: Callable[[], Cache]) -> None:
    cache = make_cache()

    def work() -> None:
        for _ in range(200):
            cache.incr(ALICE, "hits")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.incr(ALICE, "hits", 0) == 800


def test_local_cache_stays_within_its_memory_budget() -> None:
    cache = LocalCache(max_bytes=10_000)
    for i in range(100):
        cache.set(ALICE, f"k{i}", b"x" * 500, 60)
    assert cache._bytes <= 10_000
    assert cache.get(ALICE, "k0") is None  # the least recently used went first
    assert cache.get(ALICE, "k99") == b"x" * 500
    cache.set(ALICE, "huge", b"x" * 5_000, 60)  # more than an eighth of the budget: not kept
    assert cache.get(ALICE, "huge") is None


def test_local_cache_bounds_its_counters() -> None:
    cache = LocalCache(max_counters=10)
    for i in range(50):
        cache.incr(f"user-{i}", "hits")
    assert len(cache._counters) == 10


def test_redis_keys_are_prefixed_by_user(redis_client: redis.Redis, redis_prefix: str) -> None:
    cache = RedisCache(redis_client, redis_prefix)
    cache.set(ALICE, "search:abc", b"v", 60)
    cache.incr(ALICE, "search_hits")
    keys = sorted(k.decode() for k in redis_client.scan_iter(match=f"{redis_prefix}:*"))
    # {user} is a Redis Cluster hash tag: one user's keys share a slot.
    assert keys == [f"{redis_prefix}:{{{ALICE}}}:c:search:abc", f"{redis_prefix}:{{{ALICE}}}:n:search_hits"]
    assert 0 < redis_client.pttl(keys[0]) <= 60_000


def test_redis_cache_rejects_ids_that_could_escape_the_namespace(redis_client: redis.Redis) -> None:
    cache = RedisCache(redis_client, "jarvis-test")
    for bad in ("", "a}b", "x:y", "{z"):
        with pytest.raises(ValueError):
            cache.get(bad, "k")


def test_redis_outage_degrades_to_misses_quickly() -> None:
    # Nothing listens on port 1: the cache answers as a miss, and after the first failure it stops trying
    # for a few seconds, so an outage costs no tool call a wait.
    cache = RedisCache(client_for("redis://127.0.0.1:1/0", timeout=0.5), "jarvis-test")
    started = time.perf_counter()
    assert cache.get(ALICE, "k") is None
    cache.set(ALICE, "k", b"v", 60)
    assert cache.incr(ALICE, "hits") == 0
    assert time.perf_counter() - started < 2.0


def test_unreachable_redis_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"JARVIS_REDIS_URL: cannot reach Redis at 127\.0\.0\.1:1/0") as raised:
        connect("redis://:secret@127.0.0.1:1/0", timeout=0.5)
    assert "secret" not in str(raised.value)
