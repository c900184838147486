"""The real Redis at 127.0.0.1:6379 (JARVIS_TEST_REDIS_URL to change it): each test gets its own key
prefix and every key under it is deleted afterwards. Without a reachable Redis these tests skip, except
under CI, where they fail."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("JARVIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    return client


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = _client()
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"jarvis-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        redis_client.delete(*keys)
