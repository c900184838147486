"""Usage limits at the tool decorator, and jarvis://me/usage / get_usage: through the MCP client, on the
in-process backend and on Redis."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp.types import CallToolResult
from redis_support import REDIS_URL

from jarvis_mcp.account.ports import Decision, Limit
from jarvis_mcp.errors import LimitExceeded

WRITE_TWICE_A_MINUTE = {"free": {"write": {"per_minute": 2}}}


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return result.structured_content


def err(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text


def resets_at(message: str) -> datetime:
    found = re.search(r"it resets at (\S+Z)", message)
    assert found, message
    return datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings for the cache and limiter: in-process, or the real Redis under a per-test prefix."""
    if request.param == "local":
        return {}
    return {"redis_url": REDIS_URL, "redis_prefix": request.getfixturevalue("redis_prefix")}


# -- over the limit -----------------------------------------------------------------------------


async def test_a_call_over_the_limit_is_refused_and_runs_nothing(client_for, backend: dict[str, Any]) -> None:
    async with client_for("alice", tiers=WRITE_TWICE_A_MINUTE, default_tier="free", **backend) as c:
        ok(await c.call_tool("remember", {"text": "first"}))
        ok(await c.call_tool("remember", {"text": "second"}))
        message = err(await c.call_tool("remember", {"text": "third, over the limit"}))
        assert "per-minute limit of 2 write tool calls reached for tier free; it resets at " in message
        assert message.endswith("(tool remember was not run)")
        now = datetime.now(UTC)
        assert now < resets_at(message) <= now + timedelta(seconds=61)
        # Nothing ran: no memory stored; the refusal itself is in the audit; reads have their own limits.
        usage = ok(await c.call_tool("get_usage", {}))
        assert usage["memories"] == 2
        hits = ok(await c.call_tool("search_memory", {"query": "third, over the limit"}))["hits"]
        assert "third, over the limit" not in [h["text"] for h in hits]
        history = ok(await c.call_tool("recent_history", {}))
        remembers = [a for a in history["actions"] if a["tool"] == "remember"]
        assert [a["status"] for a in remembers] == ["error", "ok", "ok"]  # newest first
        assert "limit of 2" in remembers[0]["error"]
        write = next(x for x in usage["limits"] if x["tool_class"] == "write" and x["period"] == "minute")
        assert (write["limit"], write["used"], write["remaining"]) == (2, 2, 0)


async def test_the_message_names_a_daily_limit_and_its_reset(client_for) -> None:
    tiers = {"free": {"read": {"per_minute": None, "daily": 2}}}
    async with client_for("alice", tiers=tiers, default_tier="free") as c:
        ok(await c.call_tool("get_profile", {}))
        ok(await c.call_tool("get_profile", {}))
        message = err(await c.call_tool("get_profile", {}))
        assert "daily limit of 2 read-only tool calls reached for tier free" in message
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        assert resets_at(message) == tomorrow
        ok(await c.call_tool("set_profile", {"name": "Ana"}))  # writes are counted apart


async def test_limits_are_per_user(client_for, backend: dict[str, Any]) -> None:
    opts = {"tiers": WRITE_TWICE_A_MINUTE, "default_tier": "free", **backend}
    async with client_for("alice", **opts) as alice, client_for("bob", **opts) as bob:
        for text in ("a", "b"):
            ok(await alice.call_tool("remember", {"text": text}))
        err(await alice.call_tool("remember", {"text": "c"}))
        ok(await bob.call_tool("remember", {"text": "bob's own"}))


async def test_on_redis_two_servers_share_one_users_limits(client_for, redis_prefix: str) -> None:
    # Two server instances (as two processes behind a load balancer) over one Redis count together.
    opts = {"tiers": WRITE_TWICE_A_MINUTE, "default_tier": "free", "redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    async with client_for("alice", **opts) as one, client_for("alice", **opts) as two:
        ok(await one.call_tool("remember", {"text": "from server one"}))
        ok(await two.call_tool("remember", {"text": "from server two"}))
        assert "per-minute limit of 2" in err(await one.call_tool("remember", {"text": "one more"}))


async def test_the_local_user_of_a_personal_install_is_not_metered(client_for) -> None:
    async with client_for("alice") as c:
        usage = ok(await c.call_tool("get_usage", {}))
        assert usage["tier"] == "unlimited" and usage["limits"] == []


# -- the figures --------------------------------------------------------------------------------


async def test_usage_shows_limits_and_cache_figures(client_for, backend: dict[str, Any]) -> None:
    async with client_for("alice", default_tier="free", **backend) as c:
        ok(await c.call_tool("remember", {"text": "The dentist appointment is on Friday at 10"}))
        for _ in range(3):
            ok(await c.call_tool("search_memory", {"query": "when is the dentist"}))
        usage = ok(await c.call_tool("get_usage", {}))
        assert usage["tier"] == "free"
        assert usage["memories"] == 1
        limits = {(x["tool_class"], x["period"]): x for x in usage["limits"]}
        assert set(limits) == {(c_, p) for c_ in ("read", "write") for p in ("minute", "day", "month")}
        assert limits[("write", "day")] == {**limits[("write", "day")], "limit": 200, "used": 1, "remaining": 199}
        assert limits[("read", "day")]["used"] == 4  # three searches and this get_usage
        assert datetime.fromisoformat(limits[("read", "month")]["resets_at"]).day == 1
        # The first search missed (search and query vector), the two repeats were answered from the cache.
        assert usage["cache"] == {"hits": 2, "misses": 2, "hit_rate": 0.5, "search_hits": 2, "search_misses": 1,
                                  "embedding_hits": 0, "embedding_misses": 1}
        resource = json.loads((await c.read_resource("jarvis://me/usage")).contents[0].text)
        assert resource["tier"] == "free" and resource["cache"] == usage["cache"]
        assert resource["memories"] == 1 and resource["limits"][0].keys() == usage["limits"][0].keys()


async def test_a_write_makes_cached_searches_stale(client_for, backend: dict[str, Any]) -> None:
    async with client_for("alice", **backend) as c:
        ok(await c.call_tool("remember", {"text": "Marta's birthday is in April"}))
        first = ok(await c.call_tool("search_memory", {"query": "birthday"}))
        assert ok(await c.call_tool("search_memory", {"query": "birthday"})) == first
        ok(await c.call_tool("remember", {"text": "Pablo's birthday is in May"}))
        after = ok(await c.call_tool("search_memory", {"query": "birthday"}))
        assert {h["text"] for h in after["hits"]} == {"Marta's birthday is in April", "Pablo's birthday is in May"}
        cache = ok(await c.call_tool("get_usage", {}))["cache"]
        # A new index version misses the search, but the query's vector is reused.
        assert (cache["search_hits"], cache["search_misses"]) == (1, 2)
        assert (cache["embedding_hits"], cache["embedding_misses"]) == (1, 1)


async def test_bobs_usage_shows_nothing_of_alices(client_for, backend: dict[str, Any]) -> None:
    opts = {"default_tier": "free", **backend}
    async with client_for("alice", **opts) as alice, client_for("bob", **opts) as bob:
        ok(await alice.call_tool("remember", {"text": "Alice's zanzibar note"}))
        for _ in range(2):
            ok(await alice.call_tool("search_memory", {"query": "zanzibar"}))
        usage = ok(await bob.call_tool("get_usage", {}))
        assert usage["memories"] == 0 and usage["conversations"] == 0 and usage["days"] == []
        assert usage["cache"]["hits"] == 0 and usage["cache"]["misses"] == 0 and usage["cache"]["hit_rate"] is None
        used = {(x["tool_class"], x["period"]): x["used"] for x in usage["limits"]}
        assert used[("write", "day")] == 0 and used[("read", "day")] == 1  # his own get_usage only
        assert "zanzibar" not in json.dumps(usage)


# -- tiers from the user_limits table -----------------------------------------------------------


def test_a_users_row_sets_their_tier_and_overrides(runtime) -> None:
    rt = runtime("alice")
    user = rt.local_user_id()
    rt.store.set_user_limits(user, "pro", {"write_daily": 1})
    usage = rt.scope_for(user).usage
    name, limits = usage.tier()
    assert name == "pro"
    assert Limit("day", 1, "daily") in limits["write"] and Limit("minute", 120, "per-minute") in limits["write"]
    assert Limit("day", 20_000, "daily") in limits["read"]
    usage.admit("remember", read_only=False)
    with pytest.raises(LimitExceeded, match="daily limit of 1 write tool calls reached for tier pro"):
        usage.admit("remember", read_only=False)
    assert rt.scope_for(user).usage.report().tier == "pro"


def test_an_unknown_tier_falls_back_to_the_default(runtime, caplog: pytest.LogCaptureFixture) -> None:
    rt = runtime("alice")
    user = rt.local_user_id()
    rt.store.set_user_limits(user, "platinum")
    with caplog.at_level(logging.ERROR):
        assert rt.scope_for(user).usage.tier()[0] == "unlimited"
    assert "unknown tier 'platinum'" in caplog.text


def test_unknown_override_columns_are_refused(runtime) -> None:
    rt = runtime("alice")
    with pytest.raises(ValueError, match="unknown limit 'write_hourly'"):
        rt.store.set_user_limits(rt.local_user_id(), "pro", {"write_hourly": 5})


def test_a_limiter_outage_serves_unmetered_and_says_so(runtime, caplog: pytest.LogCaptureFixture) -> None:
    class Down:
        def hit(self, user_id: str, limit_name: str, cost: int, limits: list[Limit]) -> Decision:
            raise ConnectionError("Redis is down")

    rt = runtime("alice")
    user = rt.local_user_id()
    rt.store.set_user_limits(user, "free")
    rt.limiter = Down()  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR):
        rt.scope_for(user).usage.admit("remember", read_only=False)
    assert "usage limiter unavailable; serving without limits" in caplog.text


def test_the_cache_works_from_its_first_lookup(runtime) -> None:
    # Through the services alone (no tool call has put anything in the cache before): an empty cache is
    # still a cache.
    rt = runtime("alice")
    user = rt.local_user_id()
    rt.scope_for(user).memory.remember("The recycling goes out on Thursday")
    for _ in range(2):
        rt.scope_for(user).memory.search("recycling day")
    cache = rt.scope_for(user).usage.report().cache
    assert (cache.search_hits, cache.search_misses, cache.embedding_misses) == (1, 1, 1)
