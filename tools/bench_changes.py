"""The change bus: what a tool call pays to publish a notice, and how long a watcher waits for it.

    .venv/bin/python tools/bench_changes.py                      # in-process, and Redis if one answers
    .venv/bin/python tools/bench_changes.py --notices 2000 --watchers 1,100 --redis redis://127.0.0.1:6379/0

For each bus and number of watched users: publish() cost (median, p95, in the publishing thread, which is a
tool call's worker thread), and publish -> delivered latency to a watcher of the publishing user in another
bus instance (Redis: a second process's bus; in-process: the same bus). Other users' watchers are the load.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import load_average, markdown_table, summary_ms  # noqa: E402

from jarvis_mcp.adapters.redis_events import RedisChangeBus  # noqa: E402
from jarvis_mcp.events import Change, ChangeBus, InProcessChangeBus  # noqa: E402


async def measure(publisher: ChangeBus, receiver: ChangeBus, notices: int, watchers: int) -> tuple[dict, dict]:
    publish_s: list[float] = []
    latency_s: list[float] = []
    others = [receiver.subscribe(f"other-{i}") for i in range(watchers - 1)]
    for cm in others:
        await cm.__aenter__()
    try:
        async with receiver.subscribe("alice") as changes:
            await asyncio.sleep(0.2)
            for i in range(notices):
                started = time.perf_counter()
                await asyncio.to_thread(_publish_timed, publisher, Change("alice", "outbox", str(i)), publish_s)
                got = await asyncio.wait_for(changes.__anext__(), 5)
                assert got.ref == str(i)
                latency_s.append(time.perf_counter() - started)
    finally:
        for cm in others:
            await cm.__aexit__(None, None, None)
    return summary_ms(publish_s), summary_ms(latency_s)


def _publish_timed(bus: ChangeBus, change: Change, out: list[float]) -> None:
    started = time.perf_counter()
    bus.publish(change)
    out.append(time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notices", type=int, default=1000)
    parser.add_argument("--watchers", default="1,100", help="watched users per bus, comma-separated")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    rows = []
    for watchers in [int(w) for w in args.watchers.split(",")]:
        bus = InProcessChangeBus()
        pub, lat = await measure(bus, bus, args.notices, watchers)
        rows.append(("in-process", watchers, args.notices, pub["p50"], pub["p95"], lat["p50"], lat["p95"]))
        try:
            redis.Redis.from_url(args.redis, socket_connect_timeout=1).ping()
        except redis.RedisError as exc:
            print(f"Redis skipped: {exc}", file=sys.stderr)
            continue
        prefix = f"jarvis-bench-{uuid.uuid4().hex[:8]}"
        here = RedisChangeBus(redis.Redis.from_url(args.redis), prefix)
        there = RedisChangeBus(redis.Redis.from_url(args.redis), prefix)
        try:
            here.wait_listening()
            there.wait_listening()
            pub, lat = await measure(here, there, args.notices, watchers)
        finally:
            here.close()
            there.close()
        rows.append(("redis, 2 buses", watchers, args.notices, pub["p50"], pub["p95"], lat["p50"], lat["p95"]))
    print(f"load average: {load_average()}")
    print(markdown_table(("bus", "watched users", "notices", "publish p50 ms", "publish p95 ms",
                          "delivered p50 ms", "delivered p95 ms"),
                         [(r[0], r[1], r[2], *(f"{v:.3f}" for v in r[3:])) for r in rows]))


if __name__ == "__main__":
    asyncio.run(main())
