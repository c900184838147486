"""Cache hit rate on repeated work: a stream of searches and writes by several users, with the cache on
and off, through the services (the same code the tools call).

    .venv/bin/python tools/bench_cache.py                          # in-process cache
    .venv/bin/python tools/bench_cache.py --redis redis://127.0.0.1:6379/0

Each user holds `--memories` synthetic memories and asks from a pool of `--pool` questions, picked with a
Zipf law (an assistant asks "what is on this week" far more often than anything else), some with a kind
filter; a share `--writes` of the operations stores a new memory, which bumps the user's index version
and so retires every cached search of that user (query vectors stay cached). The same operation sequence
runs again with the cache off, for the latency comparison. The hit rates are the per-user counters that
jarvis://me/usage shows, summed over the users.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_common import load_average, markdown_table, summary_ms, synthetic_memories, synthetic_queries

from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder
from jarvis_mcp.bootstrap import open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.memory.models import WRITABLE_KINDS
from jarvis_mcp.memory.service import MemoryInput


def plan(args: argparse.Namespace) -> list[tuple[int, str, Any]]:
    """(user index, "search" | "write", query and kinds | text), the same for both runs."""
    rng = random.Random(args.seed)
    pools = [synthetic_queries(args.pool, seed=100 + u) for u in range(args.users)]
    fresh = iter(synthetic_memories(args.ops, seed=999, variant="new"))
    weights = [1 / (rank + 1) ** args.zipf for rank in range(args.pool)]
    ops: list[tuple[int, str, Any]] = []
    for _ in range(args.ops):
        user = rng.randrange(args.users)
        if rng.random() < args.writes:
            ops.append((user, "write", next(fresh).text))
        else:
            query = rng.choices(pools[user], weights)[0]
            kinds = ["person"] if rng.random() < 0.2 else None
            ops.append((user, "search", (query, kinds)))
    return ops


def run(args: argparse.Namespace, embedder: OnnxMiniLMEmbedder, ops: list[tuple[int, str, Any]], *,
        cache: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        extra: dict[str, Any] = {"cache_mb": 256 if cache else 0}
        prefix = f"jarvis-bench-{uuid.uuid4().hex[:8]}"
        if args.redis:
            extra |= {"redis_url": args.redis, "redis_prefix": prefix}
        rt = open_runtime(Settings(home=Path(tmp), **extra), embedder=embedder)
        try:
            users = [rt.store.user_for_identity("bench", f"user-{u}", "local", None) for u in range(args.users)]
            for u, user in enumerate(users):
                items = [MemoryInput(m.text, m.kind if m.kind in WRITABLE_KINDS else "note", list(m.tags))
                         for m in synthetic_memories(args.memories, seed=u)]
                rt.scope_for(user).memory.remember_many(items)
            search_s: list[float] = []
            started = time.perf_counter()
            for u, kind, arg in ops:
                memory = rt.scope_for(users[u]).memory  # a new scope per call, as each tool call gets
                if kind == "write":
                    memory.remember(arg)
                else:
                    t = time.perf_counter()
                    memory.search(arg[0], top_k=5, kinds=arg[1])
                    search_s.append(time.perf_counter() - t)
            elapsed = time.perf_counter() - started
            figures = [rt.scope_for(user).usage.report().cache for user in users]
        finally:
            if args.redis and rt.cache is not None:
                client = rt.cache.client  # type: ignore[attr-defined]
                keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
                if keys:
                    client.delete(*keys)
            rt.close()
    total = {k: sum(getattr(f, k) for f in figures) for k in
             ("hits", "misses", "search_hits", "search_misses", "embedding_hits", "embedding_misses")}
    return {"elapsed_s": elapsed, "search": summary_ms(search_s), **total}


def rate(hits: int, misses: int) -> str:
    return f"{hits / (hits + misses):.1%}" if hits + misses else "n/a"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--memories", type=int, default=200, help="per user")
    p.add_argument("--pool", type=int, default=40, help="distinct questions per user")
    p.add_argument("--ops", type=int, default=2000)
    p.add_argument("--writes", type=float, default=0.1, help="share of operations that store a memory")
    p.add_argument("--zipf", type=float, default=1.1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--redis", help="redis:// URL: the Redis cache instead of the in-process one")
    args = p.parse_args(argv)

    embedder = OnnxMiniLMEmbedder()
    embedder.embed(["warm up"])
    ops = plan(args)
    on = run(args, embedder, ops, cache=True)
    off = run(args, embedder, ops, cache=False)
    searches = sum(1 for _, k, _ in ops if k == "search")
    print(f"# Cache on repeated work ({'Redis' if args.redis else 'in-process'})\n")
    print(f"{args.users} users x {args.memories} memories, {args.ops} operations ({searches} searches, "
          f"{args.ops - searches} writes), {args.pool} questions per user (Zipf {args.zipf}), load {load_average()}\n")
    print(markdown_table(
        ["cache", "search hit rate", "query-vector hit rate", "overall hit rate (as in jarvis://me/usage)",
         "search p50 ms", "search p95 ms", "run s"],
        [["on", rate(on["search_hits"], on["search_misses"]), rate(on["embedding_hits"], on["embedding_misses"]),
          rate(on["hits"], on["misses"]), on["search"]["p50"], on["search"]["p95"], round(on["elapsed_s"], 2)],
         ["off", "-", "-", "-", off["search"]["p50"], off["search"]["p95"], round(off["elapsed_s"], 2)]],
    ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
