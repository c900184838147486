"""Latency and throughput of the memory tools, measured through an in-process MCP client.

    .venv/bin/python tools/bench_memory.py                                  # 10k and 100k, 10 other users
    .venv/bin/python tools/bench_memory.py --sizes 2000 --other-users 2     # a quick run while developing

For each size N: one measured user holds N memories among `--other-users` users holding `--other-size`
(default N) each. The bulk rows are written straight through SqliteStore.insert_memories with synthetic
vectors (hashed words, randomly projected; other users get random unit vectors): the real model embeds
~350 sentences/s, so 1.1M rows through it would take an hour. Those vectors are NOT MiniLM vectors; they
only make the index the right size, so this measures latency, not ranking quality (see retrieval_eval.py).
Everything timed after that is real: each search embeds its query with the local ONNX model, each
remember embeds its text, the bulk import embeds every text, and the stdio start spawns the real server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import (
    HashedVectors,
    load_average,
    markdown_table,
    median,
    summary_ms,
    synthetic_memories,
    synthetic_queries,
)
from mcp import Client
from mcp.types import CallToolResult

from jarvis_mcp.adapters import vector_cache
from jarvis_mcp.adapters.onnx_embedder import OnnxMiniLMEmbedder
from jarvis_mcp.adapters.sqlite import SqliteStore
from jarvis_mcp.bootstrap import make_embedder, open_runtime
from jarvis_mcp.config import Settings
from jarvis_mcp.memory.ports import MemoryFilter, NewMemory
from jarvis_mcp.memory.service import MemoryInput
from jarvis_mcp.server import build_server
from jarvis_mcp.text import content_hash, fold, keyword_terms

MEASURED_USER = "bench"
BATCH = 2_000  # rows per insert_memories call (one transaction)
WARMUP = 10
KIND_FILTER = ["event", "task"]
MARKER = "bench-populated.json"
GENERATOR = 2  # bump when bench_common's synthetic texts change, so a kept --home is not reused
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class QuerySets:
    """Disjoint sets of distinct queries, so no timed search is answered by the query caches."""

    warmup: list[str]
    main: list[str]
    kinds: list[str]
    pieces: list[str]
    service: list[str]

    @classmethod
    def make(cls, n: int) -> QuerySets:
        pool = list(dict.fromkeys(synthetic_queries(WARMUP + 4 * n + 500 + 10 * n, seed=5)))
        if len(pool) < WARMUP + 4 * n:
            raise SystemExit(f"only {len(pool)} distinct synthetic queries; ask for fewer")
        sets = [pool[WARMUP + k * n : WARMUP + (k + 1) * n] for k in range(4)]
        return cls(pool[:WARMUP], *sets)


# -- population --------------------------------------------------------------------------------


def _user_id(store: SqliteStore, name: str) -> str:
    return store.user_for_identity("local", name, "local", None)


def populate(home: Path, size: int, other_users: int, other_size: int, dim: int, model_id: str,
             log: Callable[[str], None]) -> dict[str, Any]:
    """Fill home with the measured user and the other users, round-robin in batches so that each user's
    rows are interleaved with the others' as they would be in a shared store. Reused when already done."""
    marker = home / MARKER
    wanted = {"size": size, "other_users": other_users, "other_size": other_size, "model_id": model_id,
              "generator": GENERATOR}
    if marker.is_file():
        done = json.loads(marker.read_text())
        if {k: done.get(k) for k in wanted} == wanted:
            log(f"  reusing the populated store in {home}")
            return done
        raise SystemExit(f"{home} holds a different population ({done}); use another --home")
    home.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(home / "jarvis.db")
    store.ensure_embedding_model(model_id, dim)
    hashed = HashedVectors(dim)
    started = time.perf_counter()
    plan = [(MEASURED_USER, size, 0)] + [(f"other-{i:02d}", other_size, i) for i in range(1, other_users + 1)]
    pending = [[_user_id(store, name), name, synthetic_memories(n, seed=1000 + seed, variant=name), 0]
               for name, n, seed in plan]
    total = sum(len(p[2]) for p in pending)
    gen_s = time.perf_counter() - started
    rng = np.random.default_rng(99)
    inserted, next_report = 0, total / 10
    insert_started = time.perf_counter()
    while pending:
        for entry in list(pending):
            uid, name, memories, pos = entry
            chunk = memories[pos : pos + BATCH]
            if name == MEASURED_USER:
                vectors = hashed.embed([m.text for m in chunk])
            else:
                # Never compared with the measured user's queries, so plain random unit vectors suffice.
                vectors = rng.standard_normal((len(chunk), dim), dtype=np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            items = [
                NewMemory(kind=m.kind, text=m.text, content_hash=content_hash(fold(m.text)), tags=m.tags,
                          occurred_at=m.occurred_at)
                for m in chunk
            ]
            store.insert_memories(uid, items, vectors)
            inserted += len(chunk)
            entry[3] = pos + len(chunk)
            if entry[3] >= len(memories):
                pending.remove(entry)
        if inserted >= next_report or not pending:
            log(f"  inserted {inserted:,} of {total:,} rows ({inserted / (time.perf_counter() - insert_started):,.0f}/s)")
            next_report += total / 10
    store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.conn.execute("PRAGMA optimize")
    store.close()
    insert_s = time.perf_counter() - insert_started
    done = {
        **wanted,
        "total_rows": inserted,
        "generate_s": round(gen_s, 1),
        "insert_s": round(insert_s, 1),
        "insert_rows_per_s": round(inserted / insert_s),
        "db_mb": round(sum(p.stat().st_size for p in home.glob("jarvis.db*")) / 1e6, 1),
    }
    marker.write_text(json.dumps(done))
    log(f"  populated {inserted:,} rows in {time.perf_counter() - started:.1f} s ({done['db_mb']} MB)")
    return done


# -- measurements through the MCP client ----------------------------------------------------------


class Samples(dict[str, list[float]]):
    def timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter()
        out = fn(*args)
        self.setdefault(name, []).append(time.perf_counter() - t)
        return out

    async def timed_tool(self, name: str, client: Client, tool: str, args: dict[str, Any]) -> CallToolResult:
        t = time.perf_counter()
        result = await client.call_tool(tool, args)
        self.setdefault(name, []).append(time.perf_counter() - t)
        if result.is_error:
            raise SystemExit(f"{tool} failed: {result.content}")
        return result

    async def timed_async(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter()
        out = await fn(*args)
        self.setdefault(name, []).append(time.perf_counter() - t)
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        return {name: summary_ms(values) for name, values in self.items()}


async def measure(settings: Settings, embedder: OnnxMiniLMEmbedder, qs: QuerySets, remember_texts: list[str],
                  added: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tools through MCP and their pieces without MCP, interleaved call by call.

    The machine is shared and its load drifts within a run; interleaving gives each MCP call and the
    pieces it is compared with the same conditions. The pieces use a second runtime on the same store
    and their own queries (a query timed once is never timed again, so no page or cache is warmed for it).
    remember_texts: the first half goes through MCP, the second half through the service; the ids of what
    is written are appended to `added` as they are made.
    """
    runtime = open_runtime(settings, embedder=embedder)
    mcp = Samples()
    pieces = Samples()
    out_mcp: dict[str, Any] = {}
    out_pieces: dict[str, Any] = {}
    try:
        uid = runtime.local_user_id()
        store, index = runtime.store, runtime.index
        memory = runtime.scope_for(uid).memory
        flt, kinds_flt = MemoryFilter(), MemoryFilter(kinds=tuple(KIND_FILTER))
        pool = 50  # what MemoryService.search asks each retriever for at top_k=5
        half = 0
        async with Client(build_server(settings, embedder=embedder)) as client:
            t = time.perf_counter()
            await client.call_tool("search_memory", {"query": "warm up: load the vector matrix"})
            out_mcp["first_search_ms"] = round((time.perf_counter() - t) * 1000, 1)
            t = time.perf_counter()
            index.search(uid, embedder.embed(["load"])[0], flt, pool)
            out_pieces["matrix_load_ms"] = round((time.perf_counter() - t) * 1000, 1)
            cached = store.cache.get(uid, store.index_version(uid))  # the user's matrix in memory, per process
            out_pieces["matrix_mb"] = round(cached.nbytes / 1e6, 1) if cached is not None else None
            for q in qs.warmup:
                await client.call_tool("search_memory", {"query": q})
                memory.search(q, 5)
            for i in range(len(qs.main)):
                result = await mcp.timed_tool("search", client, "search_memory", {"query": qs.main[i]})
                if not (result.structured_content or {}).get("hits"):
                    raise SystemExit(f"search returned no hits: {result.structured_content}")
                # Part of every call above: the SDK client re-validates structured results against the
                # tool's output schema (jsonschema). A client cost, not the server's.
                await mcp.timed_async("client_result_validation", client.session.validate_tool_result,
                                      "search_memory", result)
                await mcp.timed_tool("search_kinds", client, "search_memory", {"query": qs.kinds[i], "kinds": KIND_FILTER})
                q = qs.pieces[i]
                vector = pieces.timed("embed_query", embedder.embed, [q])[0]
                terms = keyword_terms(q)
                pieces.timed("vector_search", index.search, uid, vector, flt, pool)
                # A scan's scores are kept for the next search with the same vector (vector_cache.py): the
                # other pieces nudge the vector so that each one scans afresh, as a new query would.
                pieces.timed("vector_search_kinds", index.search, uid, _nudged(vector, 1), kinds_flt, pool)
                with _scan_as_before():
                    pieces.timed("vector_search_before", index.search, uid, _nudged(vector, 2), flt, pool)
                pieces.timed("vector_search_same_vector_kinds", index.search, uid, vector, kinds_flt, pool)
                by_keyword = pieces.timed("keyword_search", store.keyword_search, uid, terms, flt, pool)
                pieces.timed("keyword_search_kinds", store.keyword_search, uid, terms, kinds_flt, pool)
                pieces.timed("keyword_stats", store.keyword_stats, uid, terms)
                pieces.timed("fetch_top20_keyword_hits", store.memories_by_seq, uid, by_keyword[:20])
                top5 = [seq for seq, _ in index.search(uid, vector, flt, 5)]
                pieces.timed("fetch_top5", store.memories_by_seq, uid, top5)
                pieces.timed("service_search", memory.search, qs.service[i], 5)
                # Every tool call through MCP also writes one audit row (actions + usage) in its own transaction.
                pieces.timed("audit_write", store.record_action, uid, "search_memory", {"query": q}, "ok", None, 1.0)
            if remember_texts:
                # Not interleaved: a write through one runtime moves the user's index version, and the other
                # runtime would then reload the whole vector matrix (the cross-process case, see README).
                half = len(remember_texts) // 2
                for i in range(half):
                    args = {"text": remember_texts[i], "kind": "note"}
                    if i < WARMUP:  # the first writes also load what the near-duplicate check reads
                        sc = (await client.call_tool("remember", args)).structured_content
                    else:
                        sc = (await mcp.timed_tool("remember", client, "remember", args)).structured_content
                    if not sc.get("created"):
                        raise SystemExit(f"remember did not create a memory: {sc}")
                    added.append(sc["memory"]["id"])
        for i in range(half, len(remember_texts)):
            text = remember_texts[i]
            if i < half + WARMUP:
                added.append(memory.remember(text).memory.id)
                continue
            pieces.timed("embed_remember_text", embedder.embed, [text + " (embedding only)"])
            added.append(pieces.timed("service_remember", memory.remember, text).memory.id)
        terms_sample = [keyword_terms(q) for q in qs.pieces[:50]]
        out_pieces["keyword_matches_per_query_median"] = int(np.median(
            [len(store.keyword_search(uid, t, flt, 1_000_000)) for t in terms_sample]))
    finally:
        runtime.close()
    return {**out_mcp, **mcp.summary()}, {**out_pieces, **pieces.summary()}


def _nudged(vector: np.ndarray, i: int) -> np.ndarray:
    out = np.array(vector, np.float32)
    out[i] += 1e-6
    return out


@contextmanager
def _scan_as_before() -> Iterator[None]:
    """The vector search as it was before issue 11's work: every row in full, on one core (no split
    across cores, no low-dimension first pass; vector_cache.py), for comparison under the same load."""
    saved = vector_cache.PARALLEL_ROWS, vector_cache.PROJECT_ROWS
    vector_cache.PARALLEL_ROWS = vector_cache.PROJECT_ROWS = 1 << 62
    try:
        yield
    finally:
        vector_cache.PARALLEL_ROWS, vector_cache.PROJECT_ROWS = saved


def measure_bulk(settings: Settings, embedder: OnnxMiniLMEmbedder, texts: list[str], batch: int) -> tuple[dict[str, Any], list[str]]:
    runtime = open_runtime(settings, embedder=embedder)
    try:
        memory = runtime.scope_for(runtime.local_user_id()).memory
        sample = texts[:500]
        t = time.perf_counter()
        embedder.embed(sample)
        embed_rate = len(sample) / (time.perf_counter() - t)
        ids = []
        t = time.perf_counter()
        for start in range(0, len(texts), batch):
            results = memory.remember_many([MemoryInput(x, "note") for x in texts[start : start + batch]])
            ids += [r.memory.id for r in results if r.created]
        elapsed = time.perf_counter() - t
        if len(ids) != len(texts):
            raise SystemExit(f"bulk import created {len(ids)} of {len(texts)} memories")
        return {"memories": len(texts), "batch": batch, "seconds": round(elapsed, 2),
                "per_s": round(len(texts) / elapsed), "embed_only_per_s": round(embed_rate)}, ids
    finally:
        runtime.close()


def cleanup(settings: Settings, embedder: OnnxMiniLMEmbedder, ids: list[str]) -> None:
    """Remove what the write benchmarks added, so a kept --home can be measured again at the same size."""
    runtime = open_runtime(settings, embedder=embedder)
    try:
        runtime.store.delete_memories(runtime.local_user_id(), ids)
    finally:
        runtime.close()


# -- stdio start -------------------------------------------------------------------------------

_HANDSHAKE = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize",
     "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


def stdio_start(home: Path, embedder: str = "use") -> tuple[float, int]:
    """Seconds from spawning `python -m jarvis_mcp serve` to the tools/list answer, and the tool count.
    The whole handshake is written at once, as a client that pipelines would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JARVIS_")}
    env.update(JARVIS_HOME=str(home), JARVIS_LOG_LEVEL="WARNING", JARVIS_EMBEDDER=embedder)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "jarvis_mcp", "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in _HANDSHAKE))
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("the server closed stdout before answering tools/list")
            msg = json.loads(line)
            if msg.get("id") == 2:
                elapsed = time.perf_counter() - t
                if "error" in msg:
                    raise SystemExit(f"tools/list failed: {msg['error']}")
                return elapsed, len(msg["result"]["tools"])
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_stdio(existing_home: Path, starts: int, embedder: str = "use") -> dict[str, Any]:
    fresh, existing, tools = [], [], 0
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-stdio-") as tmp:
        for i in range(starts):
            s, tools = stdio_start(Path(tmp) / f"fresh-{i}", embedder)
            fresh.append(s)
    for _ in range(starts):
        s, tools = stdio_start(existing_home, embedder)
        existing.append(s)
    return {"fresh_home_median_s": round(median(fresh), 3), "fresh_home_all_s": [round(x, 3) for x in fresh],
            "existing_home_median_s": round(median(existing), 3), "existing_home_all_s": [round(x, 3) for x in existing],
            "tools_listed": tools, "existing_home": str(existing_home)}


# -- report ------------------------------------------------------------------------------------


def _n(x: int) -> str:
    return f"{x // 1000}k" if x >= 1000 and x % 1000 == 0 else str(x)


_MCP_ROWS = (
    ("search_memory", "mcp", "search"),
    (f"search_memory kinds={','.join(KIND_FILTER)}", "mcp", "search_kinds"),
    ("  of which: SDK client re-validating the result (jsonschema)", "mcp", "client_result_validation"),
    ("remember", "mcp", "remember"),
)
_PIECE_ROWS = ("embed_query", "vector_search", "vector_search_before", "vector_search_kinds",
               "vector_search_same_vector_kinds", "keyword_search", "keyword_search_kinds",
               "keyword_stats", "fetch_top20_keyword_hits", "fetch_top5", "service_search", "audit_write",
               "embed_remember_text", "service_remember")


def report(results: dict[str, Any]) -> str:
    cfg = results["config"]
    threads = ", ".join(f"{k}={v}" for k, v in results["thread_env"].items()) or "none set"
    lines = [
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; thread variables: {threads}; load average at start "
        f"{results['load_before']}, at end {results['load_after']} (a shared machine: figures are indicative).  ",
        f"Each search embeds its query with the local model `{cfg.get('embedder', 'minilm')}`; {cfg['queries']} distinct queries after "
        f"{WARMUP} warm-up calls. Bulk rows use synthetic vectors (hashed words, random projection): this "
        "measures latency, not ranking quality.\n",
    ]
    rows = []
    for r in results["sizes"]:
        pop = r["population"]
        label = f"{_n(pop['size'])} (+{pop['other_users']}x{_n(pop['other_size'])})"
        for name, part, key in _MCP_ROWS:
            s = (r.get(part) or {}).get(key)
            if s:
                rows.append((label, name, s["p50"], s["p95"], s["p99"], s["mean"]))
        for name in _PIECE_ROWS:
            s = r["pieces"].get(name)
            if s:
                rows.append((label, f"  piece: {name}", s["p50"], s["p95"], s["p99"], s["mean"]))
    lines.append(markdown_table(["memories per user", "operation (ms)", "p50", "p95", "p99", "mean"], rows))
    lines.append("")
    rows = []
    for r in results["sizes"]:
        pop, b = r["population"], r.get("bulk") or {}
        rows.append((_n(pop["size"]), f"{pop['total_rows']:,}", pop["db_mb"], pop["insert_s"], r["mcp"]["first_search_ms"],
                     r["pieces"]["matrix_load_ms"], r["pieces"].get("matrix_mb", "-"),
                     r["pieces"]["keyword_matches_per_query_median"],
                     b.get("per_s", "-"), b.get("embed_only_per_s", "-")))
    lines.append(markdown_table(
        ["memories per user", "rows in store", "db MB", "populate s", "first search ms", "matrix load ms", "matrix MB",
         "keyword matches/query (median)", "bulk import /s (remember_many, real embeddings)", "embedding alone /s"],
        rows))
    st = results.get("stdio")
    if st:
        lines.append("")
        lines.append(markdown_table(
            ["stdio start to tools/list answer", "median s", "all starts s"],
            [("fresh JARVIS_HOME", st["fresh_home_median_s"], ", ".join(map(str, st["fresh_home_all_s"]))),
             ("existing JARVIS_HOME (largest store)", st["existing_home_median_s"],
              ", ".join(map(str, st["existing_home_all_s"])))]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000", help="memories of the measured user, comma-separated")
    p.add_argument("--other-users", type=int, default=10)
    p.add_argument("--other-size", type=int, default=None, help="memories per other user (default: the size)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--remembers", type=int, default=100, help="remember calls through MCP (0 to skip)")
    p.add_argument("--bulk", type=int, default=2_000, help="texts for the bulk import, real embeddings (0 to skip)")
    p.add_argument("--bulk-batch", type=int, default=256)
    p.add_argument("--starts", type=int, default=5, help="stdio starts per case (0 to skip)")
    p.add_argument("--embedder", default="use", help="JARVIS_EMBEDDER of the measured searches (use, minilm)")
    p.add_argument("--home", type=Path, help="keep populated stores here (one folder per size) and reuse them")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    logging.getLogger("jarvis_mcp").setLevel(logging.WARNING)  # "store ready" once per client is noise here
    embedder = make_embedder(Settings(embedder=args.embedder))
    embedder.embed(["warm up"])
    # The bulk rows' vectors are synthetic, unrelated to real query vectors: without a relevance floor each
    # search returns top_k hits and does the work a real one does (memory/ranking.py).
    embedder.relevance_floor = -1.0
    qs = QuerySets.make(args.queries)
    results: dict[str, Any] = {
        "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", "tools/bench_memory.py",
                                                     *(argv if argv is not None else sys.argv[1:])]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "thread_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
        "load_before": load_average(),
        "config": {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "warmup": WARMUP},
        "note": "bulk rows use synthetic vectors; latency only",
        "sizes": [],
    }
    tmp = None
    root = args.home
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="jarvis-bench-")
        root = Path(tmp.name)
    try:
        largest = None
        for size in sizes:
            other_size = args.other_size if args.other_size is not None else size
            home = root / f"n{size}-u{args.other_users}x{other_size}"
            log(f"size {size:,} (+{args.other_users} users x {other_size:,}) in {home}")
            entry: dict[str, Any] = {"population": populate(home, size, args.other_users, other_size, embedder.dim,
                                                            embedder.model_id, log)}
            # No result cache: every search is computed (tools/bench_cache.py measures the cache).
            settings = Settings(home=home, user=MEASURED_USER, log_level="WARNING", cache_mb=0)
            n_remember = 2 * (WARMUP + args.remembers) if args.remembers else 0
            fresh = synthetic_memories(n_remember + args.bulk, seed=424242 + size, variant="new")
            texts = [f"{m.text} [bench {i}]" for i, m in enumerate(fresh)]
            added: list[str] = []
            try:
                log("  search and remember, through MCP and piece by piece")
                entry["mcp"], entry["pieces"] = asyncio.run(measure(settings, embedder, qs, texts[:n_remember], added))
                if args.bulk:
                    log("  bulk import")
                    entry["bulk"], ids = measure_bulk(settings, embedder, texts[n_remember:], args.bulk_batch)
                    added += ids
            finally:
                if added:
                    cleanup(settings, embedder, added)
            results["sizes"].append(entry)
            largest = home
        if args.starts and largest is not None:
            log("stdio starts")
            results["stdio"] = measure_stdio(largest, args.starts, args.embedder)
    finally:
        if tmp is not None:
            tmp.cleanup()
    results["load_after"] = load_average()
    print(report(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        log(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
