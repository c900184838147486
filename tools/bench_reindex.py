"""Throughput of `jarvis-mcp reindex` on the embedded store, and what a server on the old model sees meanwhile.

    .venv/bin/python tools/bench_reindex.py                      # 10k memories, the configured default embedder
    .venv/bin/python tools/bench_reindex.py --size 2000 --batch 32

A store is filled with `--size` memories of one user (synthetic texts, bench_common.synthetic_memories)
under a stand-in "old model" (hashed words, 384 dimensions: writing 10k rows through a real model would
measure that model twice). Then the reindex runs for real, as the command does: the configured embedder
(JARVIS_EMBEDDER, default unless set) embeds every row in batches into the shadow table, and the switch
flips it. Meanwhile a second store handle, like a server still on the old model, searches continuously;
its latency (p50/p95) during the run shows the reindex leaves it answering. Reported: rows/s overall,
rows/s of the embedder alone on the same texts (the ceiling), and the switch's duration (writers wait
that long).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from multiprocessing import Event, Queue
from pathlib import Path

from bench_common import (
    HashedVectors,
    load_average,
    markdown_table,
    summary_ms,
    synthetic_memories,
    synthetic_queries,
)
from threadpoolctl import threadpool_limits

from jarvis_mcp.adapters.sqlite import SqliteStore
from jarvis_mcp.bootstrap import make_embedder, open_reindex
from jarvis_mcp.config import Settings
from jarvis_mcp.errors import StoreMismatch
from jarvis_mcp.memory.ports import MemoryFilter, NewMemory
from jarvis_mcp.text import content_hash, fold

OLD_MODEL, OLD_DIM = "bench-hashed-384", 384


def populate(home: Path, size: int) -> str:
    store = SqliteStore(home / "jarvis.db")
    try:
        store.ensure_embedding_model(OLD_MODEL, OLD_DIM)
        uid = store.user_for_identity("local", "local", "local", None)
        hashed = HashedVectors(OLD_DIM)
        memories = synthetic_memories(size, seed=11)
        for start in range(0, size, 2000):
            chunk = memories[start : start + 2000]
            store.insert_memories(uid, [NewMemory(m.kind, m.text, content_hash(fold(m.text)), m.tags, m.occurred_at)
                                        for m in chunk], hashed.embed([m.text for m in chunk]))
        return uid
    finally:
        store.close()


def old_server(home: Path, uid: str, stop: Event, out: Queue) -> None:
    """Searches like a server on the old model (its own process, as a server is) until told to stop, or
    until the switch refuses it; sends back (latencies in seconds, what happened after the switch)."""
    threadpool_limits(1, user_api="blas")  # as open_runtime does for a server
    samples: list[float] = []
    outcome: dict[str, str] = {}
    store = SqliteStore(home / "jarvis.db")
    store.ensure_embedding_model(OLD_MODEL, OLD_DIM)
    hashed = HashedVectors(OLD_DIM)
    queries = hashed.embed(synthetic_queries(200, seed=5))
    i = 0
    try:
        while not stop.is_set():
            started = time.perf_counter()
            store.search(uid, queries[i % len(queries)], MemoryFilter(), 10)
            samples.append(time.perf_counter() - started)
            i += 1
            time.sleep(0.1)  # ~10 searches a second: a busy person's server, not a loop taking a core
        outcome["after"] = "still answering"
    except StoreMismatch as exc:
        outcome["after"] = f"refused after the switch: {str(exc)[:80]}..."
    finally:
        store.close()
        out.put((samples, outcome))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--home", type=Path, help="default: a temporary folder")
    ap.add_argument("--no-old-server", dest="old_server", action="store_false",
                    help="measure the reindex alone, without a server on the old model searching meanwhile")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-reindex-"))
    settings = Settings(home=home)
    embedder = make_embedder(settings)
    print(f"filling {args.size} memories under {OLD_MODEL} in {home} ...", flush=True)
    uid = populate(home, args.size)

    texts = [m.text for m in synthetic_memories(min(args.size, 2000), seed=11)]
    for s in range(0, 3 * args.batch, args.batch):  # load and warm the model (and its threads) first
        embedder.embed(texts[s : s + args.batch])
    started = time.perf_counter()
    for s in range(0, len(texts), args.batch):
        embedder.embed(texts[s : s + args.batch])
    embed_only = len(texts) / (time.perf_counter() - started)

    reindexer = open_reindex(settings, embedder=embedder, batch=args.batch)
    switch_s: list[float] = []
    real_switch = reindexer.store.reindex_switch

    def timed_switch(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        t = time.perf_counter()
        try:
            return real_switch(*a, **kw)
        finally:
            switch_s.append(time.perf_counter() - t)

    reindexer.store.reindex_switch = timed_switch  # type: ignore[method-assign]
    samples: list[float] = []
    outcome: dict[str, str] = {}
    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    searcher = ctx.Process(target=old_server, args=(home, uid, stop, out)) if args.old_server else None
    if searcher:
        searcher.start()
        time.sleep(3)  # its model-free start: opening the store and loading the user's matrix
    try:
        report = reindexer.run()
    finally:
        reindexer.close()
    if searcher:
        time.sleep(0.2)  # one more search after the switch: the old server's answer to it
        stop.set()
        samples, outcome = out.get(timeout=60)
        searcher.join()

    search = summary_ms(samples)
    rows = [[args.size, embedder.model_id, args.batch, round(report.embedded / report.seconds, 1), round(embed_only, 1),
             round(report.seconds, 1), round(switch_s[0] * 1000, 1) if switch_s else "n/a",
             search.get("p50", "n/a"), search.get("p95", "n/a"), search.get("n", 0)]]
    print(markdown_table(["memories", "new model", "batch", "reindex rows/s", "embedder alone rows/s", "total s",
                          "switch ms", "old server search p50 ms", "p95 ms", "searches"], rows))
    print(f"old server after the switch: {outcome.get('after')}")
    print(f"load average: {load_average()}")
    print(json.dumps({"size": args.size, "model": embedder.model_id, "batch": args.batch,
                      "rows_per_s": report.embedded / report.seconds, "embed_only_rows_per_s": embed_only,
                      "seconds": report.seconds, "switch_ms": switch_s[0] * 1000 if switch_s else None,
                      "old_server_search_ms": search}))


if __name__ == "__main__":
    main()
