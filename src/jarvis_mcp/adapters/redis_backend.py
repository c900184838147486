"""Cache and Limiter on Redis (JARVIS_REDIS_URL): shared by every server process behind a load balancer.

Keys: `<prefix>:{<user uuid>}:...`. The braces are a Redis Cluster hash tag, so all of one user's keys
live in one slot and the limiter's multi-key script runs on a cluster too.

Unreachable at start, the server does not start (ServiceUnreachable, exit status 3). Gone while serving,
it keeps serving: the cache is bypassed and limits are not enforced, each said once at WARNING when Redis
goes away and once when it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from jarvis_mcp.account.ports import Decision, Limit
from jarvis_mcp.adapters.local_cache import tightest
from jarvis_mcp.adapters.windows import window
from jarvis_mcp.config import ConfigError, ServiceUnreachable

log = logging.getLogger(__name__)

BREAK_SECONDS = 5.0

# Check every limit, then charge every limit: one script, so no other process interleaves between the
# check and the charge. KEYS[i]: limit i's window counter. ARGV[1]: cost; ARGV[2i]: max of limit i;
# ARGV[2i+1]: seconds the counter lives (its window's rest, and a minute more). Relative, not an epoch,
# so a server process whose clock is off by seconds cannot expire a counter early.
_HIT = """
local cost = tonumber(ARGV[1])
local used = {}
for i, key in ipairs(KEYS) do
  local u = tonumber(redis.call('GET', key) or '0')
  if u + cost > tonumber(ARGV[2 * i]) then
    return {0, i, u}
  end
  used[i] = u
end
if cost > 0 then
  for i, key in ipairs(KEYS) do
    used[i] = redis.call('INCRBY', key, cost)
    redis.call('EXPIRE', key, ARGV[2 * i + 1])
  end
end
return {1, 0, unpack(used)}
"""


def where(url: str) -> str:
    """host:port/db of a Redis URL, without the password, for messages."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or ''}"


def client_for(url: str, *, timeout: float = 2.0) -> redis.Redis:
    # One quick retry, not the client's default of several with backoff up to seconds: during an outage
    # every tool call would wait for them.
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                health_check_interval=30, retry=Retry(ExponentialBackoff(cap=0.05), 1))


def connect(url: str, *, timeout: float = 2.0) -> redis.Redis:
    """A client, checked with a PING, or ServiceUnreachable naming the setting."""
    try:
        client = client_for(url, timeout=timeout)
    except ValueError as exc:  # a malformed URL is the configuration's fault, not the service's
        raise ConfigError(f"JARVIS_REDIS_URL: {exc}") from None
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceUnreachable(f"JARVIS_REDIS_URL: cannot reach Redis at {where(url)}: {exc}") from None
    return client


def _describe(client: redis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    return str(kw["path"]) if "path" in kw else f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


class _Keys:
    # What this use of Redis does while Redis is away, and once it is back, for the operator's log.
    while_down = "it is not used"
    while_up = "back in use"

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        if not prefix or any(c in prefix for c in "{} "):
            raise ValueError("prefix must be non-empty, without braces or spaces")
        self.client = client
        self.prefix = prefix
        self._down_until = 0.0
        self._down = False
        self._state_lock = threading.Lock()

    def _check_up(self) -> None:
        # After a failure, calls fail at once for a few seconds instead of each waiting on a dead server.
        if time.monotonic() < self._down_until:
            raise redis.ConnectionError("Redis marked down after a recent failure")

    def _mark_down(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + BREAK_SECONDS
        with self._state_lock:
            if self._down:
                return
            self._down = True
        # Once per outage, not per call: a busy server would otherwise log thousands of lines.
        log.warning("Redis at %s is unreachable (%s): %s until it answers again (tried again every %.0f s)",
                    _describe(self.client), exc, self.while_down, BREAK_SECONDS)

    def _mark_up(self) -> None:
        if not self._down:
            return
        with self._state_lock:
            if not self._down:
                return
            self._down = False
        # At the outage's level, so whoever saw it go sees it come back.
        log.warning("Redis at %s answers again: %s", _describe(self.client), self.while_up)

    def key(self, user_id: str, *parts: str) -> str:
        if not user_id or any(c in user_id for c in "{}:"):
            raise ValueError("not a user id")
        return ":".join((self.prefix, "{" + user_id + "}", *parts))


class RedisCache(_Keys):
    """Values expire with their TTL; memory is bounded by Redis' own maxmemory policy."""

    while_down = "the cache is bypassed (answers are computed afresh, slower but correct)"
    while_up = "the cache is in use again"

    def get(self, user_id: str, key: str) -> bytes | None:
        try:
            self._check_up()
            value = self.client.get(self.key(user_id, "c", key))
        except redis.RedisError as exc:
            self._degraded(exc)
            return None
        self._mark_up()
        return value  # type: ignore[return-value]

    def set(self, user_id: str, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        try:
            self._check_up()
            self.client.set(self.key(user_id, "c", key), value, px=max(1, int(ttl * 1000)))
        except redis.RedisError as exc:
            self._degraded(exc)
            return
        self._mark_up()

    def incr(self, user_id: str, counter: str, amount: int = 1) -> int:
        k = self.key(user_id, "n", counter)
        try:
            self._check_up()
            raw = self.client.get(k) if amount == 0 else self.client.incrby(k, amount)
            value = int(raw or 0)
        except redis.RedisError as exc:
            self._degraded(exc)
            return 0
        self._mark_up()
        return value

    def close(self) -> None:
        self.client.close()

    def _degraded(self, exc: Exception) -> None:
        # A cache outage slows answers down; it must not fail them.
        if not isinstance(exc, redis.ConnectionError) or "marked down" not in str(exc):
            self._mark_down(exc)


class RedisLimiter(_Keys):
    """While Redis is away hit() raises, and the usage service serves the call unmetered: refusing every
    user because a counter store is down would turn an outage of Redis into an outage of the server."""

    while_down = "usage limits are not enforced (calls are served without counting them)"
    while_up = "usage limits are enforced again"

    def __init__(self, client: redis.Redis, prefix: str = "jarvis", *, clock=time.time) -> None:  # noqa: ANN001
        super().__init__(client, prefix)
        self._script = client.register_script(_HIT)
        self._clock = clock

    def hit(self, user_id: str, limit_name: str, cost: int, limits: Sequence[Limit]) -> Decision:
        if cost < 0:
            raise ValueError("cost must not be negative")
        if not limits:
            return tightest([], [])
        now = self._clock()
        slots, keys, args = [], [], [cost]
        for limit in limits:
            wid, end = window(limit.period, now)
            keys.append(self.key(user_id, "limit", limit_name, limit.period, wid))
            args += [limit.max, int(end - now) + 61]
            slots.append((None, end, limit))
        self._check_up()
        try:
            allowed, which, *used = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            self._mark_down(exc)
            raise
        self._mark_up()
        if not allowed:
            _, end, limit = slots[int(which) - 1]
            u = int(used[0])
            return Decision(False, limit, u, max(0, limit.max - u), end)
        return tightest(slots, [int(u) for u in used])
