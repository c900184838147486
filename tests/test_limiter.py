"""The Limiter contract, over every adapter (in-process and Redis), and limits shared across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from redis_support import REDIS_URL

from jarvis_mcp.account.ports import Limit, Limiter
from jarvis_mcp.adapters.local_cache import LocalLimiter
from jarvis_mcp.adapters.redis_backend import RedisLimiter

ALICE = str(uuid.uuid4())
BOB = str(uuid.uuid4())
NOON = datetime(2026, 3, 14, 12, 0, 10, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> Iterator[Callable[[Clock], Limiter]]:
    """A factory: limiters from one factory share their backend, as two server processes would."""
    if request.param == "local":
        shared: dict[str, LocalLimiter] = {}

        def local(clock: Clock) -> Limiter:
            # One in-process limiter is one process: the same object, whatever clock is asked for.
            return shared.setdefault("one", LocalLimiter(clock=clock))

        yield local
    else:
        client = request.getfixturevalue("redis_client")
        prefix = request.getfixturevalue("redis_prefix")
        yield lambda clock: RedisLimiter(client, prefix, clock=clock)


def test_allows_up_to_the_limit_then_refuses(make_limiter: Callable[[Clock], Limiter]) -> None:
    limiter = make_limiter(Clock(NOON))
    per_minute = Limit("minute", 3, "per-minute")
    for i in range(3):
        d = limiter.hit(ALICE, "write", 1, [per_minute])
        assert d.allowed and d.used == i + 1 and d.remaining == 2 - i
    refused = limiter.hit(ALICE, "write", 1, [per_minute])
    assert not refused.allowed
    assert refused.limit == per_minute and refused.used == 3 and refused.remaining == 0
    assert refused.reset_at == datetime(2026, 3, 14, 12, 1, tzinfo=UTC).timestamp()


def test_the_next_window_starts_afresh(make_limiter: Callable[[Clock], Limiter]) -> None:
    clock = Clock(NOON)
    limiter = make_limiter(clock)
    per_minute = Limit("minute", 1)
    assert limiter.hit(ALICE, "write", 1, [per_minute]).allowed
    assert not limiter.hit(ALICE, "write", 1, [per_minute]).allowed
    clock.now += 60
    assert limiter.hit(ALICE, "write", 1, [per_minute]).allowed


def test_a_refusal_charges_no_limit(make_limiter: Callable[[Clock], Limiter]) -> None:
    limiter = make_limiter(Clock(NOON))
    minute, day = Limit("minute", 100, "per-minute"), Limit("day", 2, "daily")
    assert limiter.hit(ALICE, "read", 1, [minute, day]).allowed
    assert limiter.hit(ALICE, "read", 1, [minute, day]).allowed
    refused = limiter.hit(ALICE, "read", 1, [minute, day])
    assert not refused.allowed and refused.limit == day
    assert refused.reset_at == datetime(2026, 3, 15, tzinfo=UTC).timestamp()
    # The per-minute count is still two: the refused call was charged nowhere.
    assert limiter.hit(ALICE, "read", 0, [minute]).used == 2


def test_cost_zero_looks_without_charging(make_limiter: Callable[[Clock], Limiter]) -> None:
    limiter = make_limiter(Clock(NOON))
    month = Limit("month", 10, "monthly")
    limiter.hit(ALICE, "read", 4, [month])
    peek = limiter.hit(ALICE, "read", 0, [month])
    assert peek.allowed and peek.used == 4 and peek.remaining == 6
    assert peek.reset_at == datetime(2026, 4, 1, tzinfo=UTC).timestamp()
    assert limiter.hit(ALICE, "read", 0, [month]).used == 4


def test_allowed_reports_the_tightest_limit(make_limiter: Callable[[Clock], Limiter]) -> None:
    limiter = make_limiter(Clock(NOON))
    d = limiter.hit(ALICE, "read", 1, [Limit("minute", 50), Limit("day", 5), Limit("month", 1000)])
    assert d.allowed and d.limit == Limit("day", 5) and d.remaining == 4


def test_counts_are_per_user_and_per_name(make_limiter: Callable[[Clock], Limiter]) -> None:
    limiter = make_limiter(Clock(NOON))
    day = Limit("day", 1)
    assert limiter.hit(ALICE, "write", 1, [day]).allowed
    assert not limiter.hit(ALICE, "write", 1, [day]).allowed
    assert limiter.hit(BOB, "write", 1, [day]).allowed  # Alice's calls are not Bob's
    assert limiter.hit(ALICE, "read", 1, [day]).allowed  # nor are her writes her reads


def test_shared_between_instances(make_limiter: Callable[[Clock], Limiter]) -> None:
    one, two = make_limiter(Clock(NOON)), make_limiter(Clock(NOON))
    day = Limit("day", 2)
    assert one.hit(ALICE, "write", 1, [day]).allowed
    assert two.hit(ALICE, "write", 1, [day]).allowed
    assert not one.hit(ALICE, "write", 1, [day]).allowed


def test_month_and_year_boundaries(make_limiter: Callable[[Clock], Limiter]) -> None:
    limiter = make_limiter(Clock(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()))
    new_year = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    for period in ("minute", "day", "month"):
        assert limiter.hit(ALICE, "read", 1, [Limit(period, 5)]).reset_at == new_year  # type: ignore[arg-type]


def test_concurrent_hits_never_exceed_the_limit(make_limiter: Callable[[Clock], Limiter]) -> None:
    limiter = make_limiter(Clock(NOON))
    day = Limit("day", 100)
    allowed = []
    lock = threading.Lock()

    def work() -> None:
        mine = sum(limiter.hit(ALICE, "write", 1, [day]).allowed for _ in range(40))
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 100


def test_negative_cost_is_refused(make_limiter: Callable[[Clock], Limiter]) -> None:
    with pytest.raises(ValueError):
        make_limiter(Clock(NOON)).hit(ALICE, "read", -1, [Limit("day", 5)])


def test_no_limits_means_allowed(make_limiter: Callable[[Clock], Limiter]) -> None:
    d = make_limiter(Clock(NOON)).hit(ALICE, "read", 1, [])
    assert d.allowed and d.limit is None


def test_local_limiter_forgets_finished_windows() -> None:
    clock = Clock(NOON)
    limiter = LocalLimiter(clock=clock)
    for i in range(100):
        limiter.hit(f"user-{i}", "read", 1, [Limit("minute", 5)])
    clock.now += 3600
    limiter.hit(ALICE, "read", 1, [Limit("minute", 5)])
    assert len(limiter._counts) == 1


def test_redis_counters_expire_with_their_window(redis_client: redis.Redis, redis_prefix: str) -> None:
    limiter = RedisLimiter(redis_client, redis_prefix)
    limiter.hit(ALICE, "write", 1, [Limit("minute", 5)])
    (key,) = list(redis_client.scan_iter(match=f"{redis_prefix}:*"))
    assert key.decode().startswith(f"{redis_prefix}:{{{ALICE}}}:limit:write:minute:m")
    assert 60 < redis_client.ttl(key) <= 121


# -- several processes --------------------------------------------------------------------------

_WORKER = textwrap.dedent("""
    import sys
    import redis
    from jarvis_mcp.adapters.redis_backend import RedisLimiter
    from jarvis_mcp.account.ports import Limit

    url, prefix, user, tries, now = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    limiter = RedisLimiter(redis.Redis.from_url(url), prefix, clock=lambda: now)
    sys.stdin.readline()  # start together
    allowed = sum(limiter.hit(user, "write", 1, [Limit("minute", 1000), Limit("day", 150)]).allowed
                  for _ in range(tries))
    print(allowed)
""")


def test_limits_are_shared_across_two_processes(redis_prefix: str, tmp_path: Path) -> None:
    """Two server processes on one Redis: 2 x 120 calls against a daily limit of 150 admit exactly 150."""
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    workers = [
        subprocess.Popen([sys.executable, str(script), REDIS_URL, redis_prefix, ALICE, "120", str(NOON)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    for w in workers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    outs = [w.communicate(timeout=60) for w in workers]
    for w, (_, err) in zip(workers, outs, strict=True):
        assert w.returncode == 0, err
    allowed = [int(out) for out, _ in outs]
    assert sum(allowed) == 150, allowed
    assert all(a > 0 for a in allowed), allowed  # both processes really took part
    # And this process, a third, sees the same count.
    third = RedisLimiter(redis.Redis.from_url(REDIS_URL), redis_prefix, clock=lambda: NOON)
    assert third.hit(ALICE, "write", 0, [Limit("day", 150)]).used == 150
